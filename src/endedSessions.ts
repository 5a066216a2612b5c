/** A bounded memory of ended sessions, so late or redelivered messages for them are dropped. */
export class EndedSessions {
  private readonly ids = new Set<string>();

  constructor(private readonly max = 10_000) {}

  /** Remember a session as ended; the oldest is forgotten past `max`. */
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
  }

  /** Remembered ids, oldest first. */
  list(): string[] {
    return [...this.ids];
  }

  /** True when the session ended (finished or purged) recently enough to be remembered. */
  has(id: string): boolean {
    return this.ids.has(id);
  }
}
