#!/usr/bin/env python3
"""Independent dataset generator for the coffee engine (CONTRACT.md sections 2-4).

Usage: gen.py OUT_DIR [--seed N] [--months 2024-01..2024-03] [--tx-per-month N] [--users N]

Written from the contract text alone (stdlib only), not from the project's own generator, so
that the engine is checked on data shaped differently from what it was built with. Writes
OUT_DIR/{transactions,transaction_items,users,stores,menu_items}/*.csv. Deterministic: the same
arguments give byte-identical files (everything is drawn from random.Random(seed)).

Shape, deliberately unlike the contract's listing:
- every file has the contract's columns in a different order plus one unknown column `note`
  (notes may contain commas, double quotes and line breaks, quoted per RFC 4180);
- transactions: two files per month (`transactions_YYYYMM_a.csv`, `_b.csv`), rows in random order;
  transaction_items: one file per month; users: one file; stores and menu_items: one file each,
  every field quoted (csv.QUOTE_ALL); `\\n` line ends everywhere.

Planted quirks (see `plant_*` below):
- user_id written as `140170.0` (and the same user also as `140170`), or empty;
- store and item names with commas, double quotes and a non-ASCII letter; two store names that
  differ first in a character above U+FFFF and one in U+E000-U+FFFF (code point order puts the
  first after the second, JavaScript's `<` before), and two Q1 transaction ids that do the same;
- Q1 window edges: 05:59:59 / 06:00:00 / 23:00:00 / 23:00:01, each with final_amount 75.0 and
  74.99, every month; a Q1 row in a store missing from stores (Q1 keeps it, Q3/Q4 drop it);
- rows outside 2024/2025 (2023-12-31, 2026-01-01) and on half-year edges (2024-06-30 23:00:00,
  2024-07-01 06:00:00, 2025-12-31 12:00:00) for the Q3 halves;
- Q2: a most_sold tie (two items with the same monthly quantity, the larger item_id first in the
  file) and a most_profitable tie (same monthly subtotal sum);
- Q4: a tie for first place and a tie for third place (the larger user_id first in the file),
  a store with only two users, a store with no transactions, a user missing from users ranked
  first, pre-1970 birthdates of top users, a store_id (99) missing from stores;
- malformed rows that both systems must reject: a transaction with a non-numeric final_amount,
  a transaction dated 2024-02-30, an item row with one field too few and one with one too many,
  a user with birthdate 1965-13-01. Each would change a result if it were accepted.
"""
import argparse
import csv
import os
import random
import sys
from datetime import datetime, timedelta

TX_COLS = ["created_at", "note", "user_id", "final_amount", "store_id", "voucher_id",
           "transaction_id", "discount_applied", "payment_method_id", "original_amount"]
ITEM_COLS = ["subtotal", "created_at", "item_id", "note", "unit_price", "transaction_id", "quantity"]
USER_COLS = ["registered_at", "birthdate", "note", "gender", "user_id"]
STORE_COLS = ["city", "store_name", "latitude", "note", "store_id", "street", "longitude", "state",
              "postal_code"]
MENU_COLS = ["price", "item_name", "is_seasonal", "note", "category", "available_to", "item_id",
             "available_from"]

STORES = [
    (1, 'G Coffee @ USJ 89q', "Kuala Lumpur"),
    (2, 'Bean "&" Leaf, Downtown', "Petaling Jaya"),
    (3, "O'Brien's, \"The Roastery\"", "Shah Alam"),
    (4, "Café Zürich", "Subang Jaya"),
    (5, "Alpha Brew", "Klang"),
    (6, "alpha brew (lowercase)", "Klang"),
    (7, "Mocha, Moka & Co", "Cheras"),
    (8, "Kopi \uFF03 Beans", "Puchong"),
    (9, "Kopi \U0001F375 \"Daily\" Grind", "Ampang"),
    (10, "Tiny Kiosk, Gate 3", "Sepang"),
    (11, "Empty Corner", "Rawang"),
]
MISSING_STORE = 99
RANDOM_STORES = list(range(1, 10))  # random traffic goes to stores 1..9

MENU = [  # item_id, name, category, price in cents
    (1, "Espresso", "coffee", 600),
    (2, 'Latte, vanilla', "coffee", 1025),
    (3, 'Cappuccino "Grande"', "coffee", 950),
    (4, "Flat White", "coffee", 1000),
    (5, "Matcha Latte", "non-coffee", 1150),
    (6, "Hot Chocolate", "non-coffee", 900),
    (7, "Cold Brew", "coffee", 800),
    (8, "Croissant, butter", "bakery", 475),
]
PRICE = {m[0]: m[3] for m in MENU}
NOTES = ["", "", "", "", "ok", "paid, no receipt", 'said "thanks"', "line one\nline two", "n/a"]


def money(cents):
    """Shortest decimal with at least one fractional digit: 7500 -> 75.0, 7499 -> 74.99."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    frac = f"{cents % 100:02d}".rstrip("0") or "0"
    return f"{sign}{cents // 100}.{frac}"


def ts(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def parse_months(text):
    try:
        first, last = text.split("..")
        y, m = (int(x) for x in first.split("-"))
        y2, m2 = (int(x) for x in last.split("-"))
    except ValueError:
        sys.exit(f"gen.py: --months must look like 2024-01..2024-03, got {text!r}")
    months = []
    while (y, m) <= (y2, m2):
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    if not months:
        sys.exit(f"gen.py: --months {text!r} is empty")
    return months


def month_bounds(y, m):
    start = datetime(y, m, 1)
    end = datetime(y + 1, 1, 1) if m == 12 else datetime(y, m + 1, 1)
    return start, end


class Gen:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.months = parse_months(args.months)
        self.tx_per_month = args.tx_per_month
        self.n_users = max(args.users, 20)
        # month key -> list of rows (dicts); transactions also remember their file half
        self.tx = {mk: [] for mk in self.months}
        self.items = {mk: [] for mk in self.months}
        self.bad_tx = {mk: [] for mk in self.months}   # malformed rows (already text)
        self.bad_items = {mk: [] for mk in self.months}

    # ---- ids and values -------------------------------------------------------------------
    def uuid(self):
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def note(self):
        return self.rng.choice(NOTES)

    def user_text(self, uid):
        if uid is None:
            return ""
        return f"{uid}.0" if self.rng.random() < 0.4 else str(uid)

    def random_time(self, y, m):
        start, end = month_bounds(y, m)
        return start + timedelta(seconds=self.rng.randrange(int((end - start).total_seconds())))

    def random_time_in_window(self, y, m):
        start, end = month_bounds(y, m)
        day = self.rng.randrange((end - start).days)
        return start + timedelta(days=day, seconds=6 * 3600 + self.rng.randrange(17 * 3600 + 1))

    # ---- users --------------------------------------------------------------------------------
    def make_users(self):
        ids = set()
        while len(ids) < self.n_users - 6:
            ids.add(self.rng.randrange(1, 999_999))
        ids.discard(140170)
        # planted users (not used by random traffic, so their counts are exact)
        self.u_140170 = 140170
        self.u_tie_hi, self.u_tie_lo = 700_002, 700_001          # store 2: tie for first place
        self.u_s5 = [600_050, 600_040, 600_030, 600_020]          # store 5: 25, 22, 18, 18
        self.u_missing = 888_888                                   # in transactions only
        planted = {self.u_140170, self.u_tie_hi, self.u_tie_lo, *self.u_s5}
        ids -= planted | {self.u_missing}
        self.random_users = sorted(ids)
        self.users = []
        for uid in sorted(ids | planted):
            birth = f"{self.rng.randint(1935, 2008)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
            if uid == self.u_140170:
                birth = "1962-05-17"
            elif uid == self.u_tie_lo:
                birth = "1949-12-31"
            elif uid == self.u_tie_hi:
                birth = "1970-01-01"
            elif uid == self.u_s5[2]:
                birth = "1969-12-31"
            elif uid == self.u_s5[3]:
                birth = "1901-02-03"
            reg = datetime(2023, 1, 1) + timedelta(seconds=self.rng.randrange(500 * 86400))
            self.users.append({"user_id": str(uid), "gender": self.rng.choice(["male", "female", ""]),
                               "birthdate": birth, "registered_at": ts(reg), "note": self.note()})
        # malformed: unparsable birthdate (rejected, so that user is "missing from users")
        self.bad_users = [{"user_id": str(self.u_missing + 1), "gender": "female", "birthdate": "1965-13-01",
                           "registered_at": "2023-05-05 10:00:00", "note": "bad date"}]

    # ---- transactions and items ---------------------------------------------------------------
    def add_tx(self, mk, store, uid, final_cents, when, items=None, half=None, user_text=None, tid=None):
        """One transaction row (+ its item rows, random ones unless given) in month file mk."""
        if items is None:
            items = []
            for _ in range(self.rng.randint(1, 3)):
                iid = self.rng.randint(1, len(MENU))
                items.append((iid, self.rng.randint(1, 4)))
        tid = tid or self.uuid()
        original = sum(PRICE[i] * q for i, q in items)
        if final_cents is None:
            discount = 0 if self.rng.random() < 0.7 else self.rng.randrange(0, original // 5 + 1)
            final_cents = original - discount
        discount = max(original - final_cents, 0)
        self.tx[mk].append({
            "transaction_id": tid, "store_id": str(store), "payment_method_id": str(self.rng.randint(1, 4)),
            "voucher_id": "" if self.rng.random() < 0.9 else str(self.rng.randint(1, 50)),
            "user_id": user_text if user_text is not None else self.user_text(uid),
            "original_amount": money(final_cents + discount), "discount_applied": money(discount),
            "final_amount": money(final_cents), "created_at": ts(when), "note": self.note(),
            "_half": half if half is not None else self.rng.choice("ab"),
        })
        for iid, q in items:
            self.add_item(mk, tid, iid, q, PRICE[iid] * q, when)
        return tid

    def add_item(self, mk, tid, iid, qty, subtotal, when):
        self.items[mk].append({
            "transaction_id": tid, "item_id": str(iid), "quantity": str(qty),
            "unit_price": money(subtotal // qty if qty else 0), "subtotal": money(subtotal),
            "created_at": ts(when), "note": self.note(),
        })

    def random_traffic(self):
        for (y, m) in self.months:
            for _ in range(self.tx_per_month):
                r = self.rng.random()
                uid = None if r < 0.1 else self.rng.choice(self.random_users)
                self.add_tx((y, m), self.rng.choice(RANDOM_STORES), uid, None, self.random_time(y, m))

    def plant_q1_edges(self):
        for (y, m) in self.months:
            day = self.rng.randint(1, 28)
            for hms in ((5, 59, 59), (6, 0, 0), (23, 0, 0), (23, 0, 1)):
                for cents in (7500, 7499):
                    uid = self.rng.choice(self.random_users)
                    self.add_tx((y, m), self.rng.choice(RANDOM_STORES), uid, cents, datetime(y, m, day, *hms))
        mk = self.months[0]
        # missing store: Q1 keeps it, Q3 and Q4 leave it out
        self.add_tx(mk, MISSING_STORE, self.u_missing, 8000, datetime(mk[0], mk[1], 2, 12, 0, 0))
        # Q1 ids that differ first in a character above U+FFFF and one in U+E000-U+FFFF
        for tid in ("zz-\U0001F375", "zz-\uFF03"):
            self.add_tx(mk, 1, self.rng.choice(self.random_users), 9900, datetime(mk[0], mk[1], 3, 12, 0, 0), tid=tid)
        # other years are filtered out everywhere; half-year edges feed Q3's H1/H2
        for when, cents in ((datetime(2023, 12, 31, 12, 0, 0), 10000), (datetime(2026, 1, 1, 12, 0, 0), 9000),
                            (datetime(2024, 6, 30, 23, 0, 0), 7550), (datetime(2024, 7, 1, 6, 0, 0), 12345),
                            (datetime(2025, 12, 31, 12, 0, 0), 7600)):
            for store in (1, 2):
                self.add_tx(mk, store, self.rng.choice(self.random_users), cents, when)

    def plant_q4(self):
        def spread(store, uid, n, user_text=None):
            for k in range(n):
                y, m = self.months[k % len(self.months)]
                self.add_tx((y, m), store, uid, None, self.random_time(y, m),
                            user_text=user_text(k) if user_text else None)
        # the larger user_id comes first in the files: a tie must still go to the smaller one
        spread(2, self.u_tie_hi, 20)
        spread(2, self.u_tie_lo, 20)
        spread(3, self.u_missing, 16)
        spread(4, self.u_140170, 18, lambda k: "140170.0" if k % 3 else "140170")
        for uid, n in ((self.u_s5[2], 18), (self.u_s5[3], 18), (self.u_s5[1], 22), (self.u_s5[0], 25)):
            spread(5, uid, n)
        # store 10: two users only, plus anonymous transactions
        mk = self.months[-1]
        for uid in (self.u_tie_lo, self.u_s5[0], self.u_s5[0], None, None):
            self.add_tx(mk, 10, uid, None, self.random_time_in_window(*mk))
        # store 99 (missing from stores): heavy traffic that must not show up in Q3 or Q4
        for k in range(30):
            y, m = self.months[k % len(self.months)]
            self.add_tx((y, m), MISSING_STORE, self.u_tie_hi, None, self.random_time_in_window(y, m))

    def plant_malformed(self):
        mk0, mkl = self.months[0], self.months[-1]
        loser = self.u_s5[2]  # the tie loser of store 5: one more transaction would make it win
        row = {"transaction_id": self.uuid(), "store_id": "5", "payment_method_id": "1", "voucher_id": "",
               "user_id": str(loser), "original_amount": "99.0", "discount_applied": "0.0",
               "final_amount": "abc", "created_at": ts(datetime(mk0[0], mk0[1], 3, 12, 0, 0)), "note": "bad amount"}
        self.bad_tx[mk0].append(("a", [row[c] for c in TX_COLS]))
        row = dict(row, transaction_id=self.uuid(), final_amount="99.0", created_at="2024-02-30 10:00:00",
                   note="bad date")
        self.bad_tx[mkl].append(("b", [row[c] for c in TX_COLS]))
        # item rows with a huge quantity (would be most_sold) and a wrong field count
        item = {"transaction_id": self.uuid(), "item_id": "8", "quantity": "999", "unit_price": "4.75",
                "subtotal": "4745.25", "created_at": ts(datetime(mk0[0], mk0[1], 4, 9, 0, 0)), "note": "x"}
        full = [item[c] for c in ITEM_COLS]
        self.bad_items[mk0].append(full[:3] + full[4:])       # one field too few (note dropped)
        self.bad_items[mkl].append(full + ["surplus"])        # one field too many

    def plant_q2_ties(self):
        """A most_sold tie, then a most_profitable tie (in that order: the profit rows add quantity 1
        to two items, which stays below the planted quantity, so both ties stay exact even with a
        single month)."""
        n = len(self.months)
        # quantity tie: two items get exactly the same quantity sum, above the month's best;
        # the larger item_id comes first, the tie must still go to the smaller one
        mk = self.months[0]
        qty = self.item_sums(mk, "quantity")
        top = max(qty.values(), default=0) + 5
        for iid in (7, 5):
            need = top - qty.get(iid, 0)
            parts = []
            while need > 0:
                q = min(need, self.rng.randint(1, 4))
                parts.append((q, PRICE[iid] * q))
                need -= q
            self.add_extra_items(mk, iid, parts)
        # profit tie: two items get exactly the same subtotal sum, above the month's best
        mk = self.months[1 % n]
        prof = self.item_sums(mk, "subtotal")
        top = max(prof.values(), default=0) + 1000
        for iid in (6, 3):
            self.add_extra_items(mk, iid, [(1, top - prof.get(iid, 0))])

    def item_sums(self, mk, field):
        sums = {}
        for r in self.items[mk]:
            if not r["created_at"].startswith(f"{mk[0]:04d}-{mk[1]:02d}"):
                continue
            v = int(r["quantity"]) if field == "quantity" else cents_of(r["subtotal"])
            sums[int(r["item_id"])] = sums.get(int(r["item_id"]), 0) + v
        return sums

    def add_extra_items(self, mk, iid, parts):
        for q, subtotal in parts:
            when = self.random_time(*mk)
            self.add_item(mk, self.uuid(), iid, q, subtotal, when)

    # ---- output -------------------------------------------------------------------------------
    def write(self, out):
        for d in ("transactions", "transaction_items", "users", "stores", "menu_items"):
            os.makedirs(os.path.join(out, d), exist_ok=True)
        for (y, m) in self.months:
            rows = self.tx[(y, m)]  # random traffic first (random times), planted rows after
            for half in "ab":
                body = [[r[c] for c in TX_COLS] for r in rows if r["_half"] == half]
                for h, bad in self.bad_tx[(y, m)]:
                    if h == half:
                        body.insert(self.rng.randrange(len(body) + 1), bad)
                write_csv(os.path.join(out, "transactions", f"transactions_{y:04d}{m:02d}_{half}.csv"), TX_COLS, body)
            items = self.items[(y, m)]
            body = [[r[c] for c in ITEM_COLS] for r in items]
            for bad in self.bad_items[(y, m)]:
                body.insert(self.rng.randrange(len(body) + 1), bad)
            write_csv(os.path.join(out, "transaction_items", f"transaction_items_{y:04d}{m:02d}.csv"), ITEM_COLS, body)
        users = [[u[c] for c in USER_COLS] for u in self.users]
        self.rng.shuffle(users)
        for bad in self.bad_users:
            users.insert(self.rng.randrange(len(users) + 1), [bad[c] for c in USER_COLS])
        write_csv(os.path.join(out, "users", "users.csv"), USER_COLS, users)
        stores = []
        for sid, name, city in STORES:
            s = {"store_id": str(sid), "store_name": name, "street": f"{self.rng.randint(1, 200)} Jalan {city}",
                 "postal_code": str(self.rng.randint(40000, 69999)), "city": city, "state": "Selangor",
                 "latitude": f"{3 + self.rng.random():.6f}", "longitude": f"{101 + self.rng.random():.6f}",
                 "note": self.note()}
            stores.append([s[c] for c in STORE_COLS])
        write_csv(os.path.join(out, "stores", "stores.csv"), STORE_COLS, stores, quote_all=True)
        menu = []
        for iid, name, cat, price in MENU:
            r = {"item_id": str(iid), "item_name": name, "category": cat, "price": money(price),
                 "is_seasonal": "False", "available_from": "", "available_to": "", "note": self.note()}
            menu.append([r[c] for c in MENU_COLS])
        write_csv(os.path.join(out, "menu_items", "menu_items.csv"), MENU_COLS, menu, quote_all=True)


def cents_of(text):
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def write_csv(path, header, rows, quote_all=False):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        w.writerow(header)
        w.writerows(rows)


def main(argv):
    p = argparse.ArgumentParser(description="Independent coffee dataset generator")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--months", default="2024-01..2024-03")
    p.add_argument("--tx-per-month", type=int, default=2000)
    p.add_argument("--users", type=int, default=300)
    args = p.parse_args(argv[1:])
    g = Gen(args)
    g.make_users()
    g.random_traffic()
    g.plant_q1_edges()
    g.plant_q4()
    g.plant_malformed()
    g.plant_q2_ties()
    g.write(args.out)


if __name__ == "__main__":
    main(sys.argv)
