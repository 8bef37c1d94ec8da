// One open conversation's messages, kept exactly in step with the server by
// `version`: events are applied in order, a duplicate is dropped, and a gap
// (an event past the next version expected) or a reconnect triggers a
// catch-up with `since=`, which returns every change after the last one
// applied.

const PAGE_SIZE = 30;

export class Timeline {
  #session;
  #applied = 0;
  #catchingUp = null;
  #again = false;

  constructor(session, conversation, onChange) {
    this.#session = session;
    this.conversation = conversation;
    this.onChange = onChange;
    /** message id → the newest state seen */
    this.messages = new Map();
    this.olderCursor = null;
    this.threadRoot = null;
    this.threadCursor = undefined;
  }

  get id() {
    return this.conversation.id;
  }

  /** Newest first from the server; shown oldest first. */
  get ordered() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  get thread() {
    if (this.threadRoot == null) return [];
    return this.ordered.filter((m) => m.thread_id === this.threadRoot);
  }

  get lastSeq() {
    let last = 0;
    for (const message of this.messages.values()) last = Math.max(last, message.seq);
    return last;
  }

  async load() {
    this.#applied = this.conversation.last_version;
    const page = await this.#get(`?page_size=${PAGE_SIZE}`);
    page.results.forEach((m) => this.#store(m));
    this.olderCursor = page.next_cursor;
    this.onChange();
    // Anything that changed between the conversation's answer and the page's.
    await this.catchUp();
  }

  async loadOlder() {
    if (!this.olderCursor) return;
    const page = await this.#get(`?page_size=${PAGE_SIZE}&cursor=${encodeURIComponent(this.olderCursor)}`);
    page.results.forEach((m) => this.#store(m));
    this.olderCursor = page.next_cursor;
    this.onChange();
  }

  async openThread(rootId) {
    this.threadRoot = rootId;
    let cursor = null;
    do {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : `?thread=${rootId}&page_size=100`;
      const page = await this.#get(query);
      page.results.forEach((m) => this.#store(m));
      cursor = page.next_cursor;
    } while (cursor);
    if (!this.messages.has(rootId)) this.#store(await this.#session.request('GET', `${this.#path}/${rootId}`));
    this.onChange();
  }

  closeThread() {
    this.threadRoot = null;
    this.onChange();
  }

  /** A `message.*` event of this conversation. */
  receive(event) {
    const fresh = event.type === 'message.created';
    this.#store(event.message, fresh);
    if (event.version === this.#applied + 1 && !this.#catchingUp) {
      this.#applied = event.version;
    } else if (event.version > this.#applied) {
      this.catchUp();
      return;
    }
    this.onChange();
  }

  /** A message the API answered with (a send, an edit, a reaction). */
  adopt(message, { sent = false } = {}) {
    this.#store(message, sent);
    this.onChange();
  }

  /** Every change after the last applied version, page by page; one run at a time. */
  async catchUp() {
    if (this.#catchingUp) {
      this.#again = true;
      return this.#catchingUp;
    }
    this.#catchingUp = (async () => {
      do {
        this.#again = false;
        const known = this.lastSeq;
        let cursor = null;
        do {
          const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : `?since=${this.#applied}&page_size=100`;
          const page = await this.#get(query);
          for (const message of page.results) {
            this.#store(message, message.seq > known);
            this.#applied = Math.max(this.#applied, message.version);
          }
          cursor = page.next_cursor;
        } while (cursor);
      } while (this.#again);
    })().finally(() => {
      this.#catchingUp = null;
    });
    await this.#catchingUp;
    this.onChange();
  }

  get #path() {
    return `/api/conversations/${this.id}/messages`;
  }

  #get(query) {
    return this.#session.request('GET', this.#path + query);
  }

  /**
   * Keeps the newer state of a message. A reply's thread counts it when the
   * reply is `fresh`, sent after the thread's count was read: a reply's send
   * gives its thread no new version.
   */
  #store(message, fresh = false) {
    const known = this.messages.get(message.id);
    if (known && known.version >= message.version) return;
    if (known) {
      // reply_count rises without a new version: keep the higher count.
      message = { ...message, reply_count: Math.max(message.reply_count, known.reply_count) };
    } else if (fresh && message.thread_id != null) {
      const root = this.messages.get(message.thread_id);
      if (root) {
        this.messages.set(root.id, { ...root, reply_count: root.reply_count + 1 });
      }
    }
    this.messages.set(message.id, message);
  }
}
