#!/usr/bin/env python3
"""Independent oracle for the four coffee queries (CONTRACT.md sections 2-4).

Usage: oracle.py DATA_DIR OUT_DIR

Written from the contract text alone (stdlib only) so that it can check the TypeScript
`coffee reference`. Reads DATA_DIR/{transactions,transaction_items,users,stores,menu_items}/*.csv
(files in name order, columns by header name), skips malformed rows (wrong field count, or an
unparsable id, amount, quantity, date or timestamp in a column a query uses), writes
OUT_DIR/query1.csv .. query4.csv, and prints one line per file with rejected rows:
`entity/file.csv: N rows rejected (lines a, b, c, ...)`, each the file's line its row starts on.

Own decisions where the contract is silent, stated here so differences are easy to judge:
- ids are non-negative integers, optionally written with a `.0` suffix (`140170.0`);
- money has at most two significant decimals (it is summed exactly, as cents); more is malformed;
- an empty user_id in transactions means "no user"; an empty birthdate means "unknown";
- a user_id, store_id or item_id listed twice: the greater value wins (the name last in code
  point order, the later birthdate, any birthdate over an empty one), so file order does not matter;
- rows with equal transaction_id in Q1 are ordered by amount;
- strings sort by Unicode code points (Python's own order, and UTF-8 byte order).
"""
import csv
import os
import re
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

ENTITIES = ("transactions", "transaction_items", "users", "stores", "menu_items")
CENT = Decimal("0.01")
# Leading zeros are skipped before int(): Python refuses int() of over 4300 digits, and a padded
# value is the value.
ID_RE = re.compile(r"0*([0-9]+)(?:\.0+)?")
INT_RE = re.compile(r"(-?)0*([0-9]+)(?:\.0+)?")
MONEY_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
TS_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
WINDOW = (time(6, 0, 0), time(23, 0, 0))
YEARS = (2024, 2025)
EXTRA = object()  # DictReader restkey: present when a row has too many fields


class Malformed(Exception):
    """A field that cannot be parsed; its row is skipped."""


def parse_id(text):
    m = ID_RE.fullmatch(text)
    if not m:
        raise Malformed(text)
    return int(m.group(1))


def parse_int(text):
    m = INT_RE.fullmatch(text)
    if not m:
        raise Malformed(text)
    return int(m.group(1) + m.group(2))


def parse_money(text):
    if not MONEY_RE.fullmatch(text):
        raise Malformed(text)
    try:
        value = Decimal(text)
        if value.quantize(CENT) != value:
            raise Malformed(text)
    except InvalidOperation:
        raise Malformed(text)
    return value


def parse_timestamp(text):
    m = TS_RE.fullmatch(text)
    if not m:
        raise Malformed(text)
    try:
        return datetime(*(int(g) for g in m.groups()))
    except ValueError:
        raise Malformed(text)


def parse_birthdate(text):
    if text == "":
        return text
    m = DATE_RE.fullmatch(text)
    if not m:
        raise Malformed(text)
    try:
        date(*(int(g) for g in m.groups()))
    except ValueError:
        raise Malformed(text)
    return text  # printed as written


def fmt_money(value):
    value = value.quantize(CENT)
    if value == 0:
        value = Decimal("0.00")
    whole, frac = format(value, "f").split(".")
    return f"{whole}.{frac.rstrip('0') or '0'}"


def read_entity(data_dir, entity, needed, parse, report):
    """Yield parse(row) for every well-formed row of every file of one entity folder."""
    folder = os.path.join(data_dir, entity)
    if not os.path.isdir(folder):
        sys.exit(f"oracle: dataset folder {folder} is missing")
    # Hidden files (macOS's ._name.csv copies) are not data, as for coffee.
    for name in sorted(n for n in os.listdir(folder) if n.lower().endswith(".csv") and not n.startswith(".")):
        rejected = []
        with open(os.path.join(folder, name), newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.DictReader(f, restkey=EXTRA)
            if reader.fieldnames is None:
                continue
            reader.fieldnames = [h.strip() for h in reader.fieldnames]
            missing = [c for c in needed if c not in reader.fieldnames]
            if missing:
                sys.exit(f"oracle: {entity}/{name} has no column {missing[0]}")
            twice = [c for c in needed if reader.fieldnames.count(c) > 1]
            if twice:
                sys.exit(f"oracle: {entity}/{name} has column {twice[0]} twice")
            for row in reader:
                # The file's line the record starts on: the last line read, less the line breaks
                # inside its quoted fields (blank lines before it are counted by line_num).
                values = [v for v in row.values() if isinstance(v, str)] + list(row.get(EXTRA) or [])
                line = reader.line_num - sum(v.count("\n") for v in values)
                if EXTRA in row or any(v is None for v in row.values()):
                    rejected.append(line)
                    continue
                try:
                    record = parse(row)
                except Malformed:
                    rejected.append(line)
                    continue
                yield record
        if rejected:
            report.append((f"{entity}/{name}", rejected))


def parse_transaction(row):
    tid = row["transaction_id"]
    if tid == "":
        raise Malformed("empty transaction_id")
    user = row["user_id"]
    return (tid, parse_id(row["store_id"]), None if user == "" else parse_id(user),
            parse_money(row["final_amount"]), parse_timestamp(row["created_at"]))


def parse_item(row):
    return (parse_id(row["item_id"]), parse_int(row["quantity"]), parse_money(row["subtotal"]),
            parse_timestamp(row["created_at"]))


def keep_greater(table, key, value, order=lambda v: v):
    """Set table[key] to value unless it holds a greater one (by `order`) already."""
    if key not in table or order(value) > order(table[key]):
        table[key] = value


def compute(data_dir, report):
    stores = {}
    for sid, name in read_entity(data_dir, "stores", ("store_id", "store_name"),
                                 lambda r: (parse_id(r["store_id"]), r["store_name"]), report):
        keep_greater(stores, sid, name)
    menu = {}
    for iid, name in read_entity(data_dir, "menu_items", ("item_id", "item_name"),
                                 lambda r: (parse_id(r["item_id"]), r["item_name"]), report):
        keep_greater(menu, iid, name)

    q1 = []
    tpv = defaultdict(Decimal)
    visits = defaultdict(Counter)
    tx_cols = ("transaction_id", "store_id", "user_id", "final_amount", "created_at")
    for tid, store, user, amount, ts in read_entity(data_dir, "transactions", tx_cols, parse_transaction, report):
        if ts.year not in YEARS:
            continue
        if user is not None:
            visits[store][user] += 1
        if not (WINDOW[0] <= ts.time() <= WINDOW[1]):
            continue
        tpv[(f"{ts.year}-H{1 if ts.month <= 6 else 2}", store)] += amount
        if amount >= 75:
            q1.append((tid, amount))

    qty = defaultdict(Counter)
    profit = defaultdict(lambda: defaultdict(Decimal))
    item_cols = ("item_id", "quantity", "subtotal", "created_at")
    for iid, quantity, subtotal, ts in read_entity(data_dir, "transaction_items", item_cols, parse_item, report):
        if ts.year not in YEARS:
            continue
        month = f"{ts.year:04d}-{ts.month:02d}"
        qty[month][iid] += quantity
        profit[month][iid] += subtotal

    births = {}
    for uid, birth in read_entity(data_dir, "users", ("user_id", "birthdate"),
                                  lambda r: (parse_id(r["user_id"]), parse_birthdate(r["birthdate"])), report):
        keep_greater(births, uid, birth, lambda b: b)

    store_order = sorted(stores, key=lambda s: (stores[s], s))
    out1 = [["transaction_id", "final_amount"]]
    out1 += [[tid, fmt_money(a)] for tid, a in sorted(q1, key=lambda t: (t[0], t[1]))]

    out2 = [["year_month_created_at", "item_name", "sellings_qty", "profit_sum", "metric_type"]]
    for month in sorted(qty):
        best_profit = min(profit[month].items(), key=lambda kv: (-kv[1], kv[0]))
        best_qty = min(qty[month].items(), key=lambda kv: (-kv[1], kv[0]))
        out2.append([month, menu.get(best_profit[0], ""), "", fmt_money(best_profit[1]), "most_profitable"])
        out2.append([month, menu.get(best_qty[0], ""), str(best_qty[1]), "", "most_sold"])

    out3 = [["year_half_created_at", "store_name", "tpv"]]
    rank = {s: i for i, s in enumerate(store_order)}
    for half, store in sorted((k for k in tpv if k[1] in stores), key=lambda k: (k[0], rank[k[1]])):
        out3.append([half, stores[store], fmt_money(tpv[(half, store)])])

    out4 = [["store_name", "birthdate"]]
    for store in store_order:
        top = sorted(visits.get(store, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        out4 += [[stores[store], births.get(user, "")] for user, _ in top]
    return [out1, out2, out3, out4]


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: oracle.py DATA_DIR OUT_DIR")
    report = []
    results = compute(argv[1], report)
    os.makedirs(argv[2], exist_ok=True)
    for n, rows in enumerate(results, start=1):
        with open(os.path.join(argv[2], f"query{n}.csv"), "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    for file, lines in report:
        more = ", ..." if len(lines) > 10 else ""
        shown = lines[:10]
        rows = "row" if len(lines) == 1 else "rows"
        said = "line" if len(shown) == 1 else "lines"
        print(f"{file}: {len(lines)} {rows} rejected ({said} {', '.join(map(str, shown))}{more})")


if __name__ == "__main__":
    main(sys.argv)
