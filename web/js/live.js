// The WebSocket: a ticket for each connection, a reconnect with growing,
// jittered delays when it drops, and a ping now and then so the gateway's
// idle timeout does not close a quiet tab. After every (re)connect the page
// catches up by version, so nothing sent while it was away is missed.

const PING_EVERY_MS = 5 * 60_000;
const MAX_DELAY_MS = 30_000;

export class Live {
  #session;
  #handlers;
  #socket = null;
  #attempt = 0;
  #timer = null;
  #ping = null;
  #stopped = true;

  /** handlers: onEvent(event), onConnected(), onStatus('connecting' | 'live' | 'offline') */
  constructor(session, handlers) {
    this.#session = session;
    this.#handlers = handlers;
    window.addEventListener('online', () => this.#soon(0));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.#soon(0);
    });
  }

  start() {
    this.#stopped = false;
    this.#soon(0);
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#ping);
    this.#socket?.close();
    this.#socket = null;
  }

  send(frame) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(frame));
  }

  #soon(delay) {
    if (this.#stopped || this.#socket) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  async #connect() {
    if (this.#stopped || this.#socket) return;
    this.#handlers.onStatus('connecting');
    let url;
    try {
      ({ url } = await this.#session.request('POST', '/api/realtime/tickets'));
    } catch {
      this.#retry();
      return;
    }
    if (this.#stopped) return;
    const socket = new WebSocket(url);
    this.#socket = socket;
    socket.addEventListener('open', () => {
      this.#attempt = 0;
      this.#handlers.onStatus('live');
      clearInterval(this.#ping);
      this.#ping = setInterval(() => this.send({ action: 'ping' }), PING_EVERY_MS);
      this.#handlers.onConnected();
    });
    socket.addEventListener('message', (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      this.#handlers.onEvent(event);
    });
    socket.addEventListener('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      clearInterval(this.#ping);
      this.#retry();
    });
  }

  #retry() {
    if (this.#stopped) return;
    this.#handlers.onStatus('offline');
    const ceiling = Math.min(MAX_DELAY_MS, 500 * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#soon(ceiling / 2 + Math.random() * (ceiling / 2));
  }
}
