// A small Socket.IO v5 client over Engine.IO v4's WebSocket transport (no long-polling): what the
// page needs of socket.io-client, without carrying third-party code. Packets are text frames:
// Engine.IO type digit (0 open, 1 close, 2 ping, 3 pong, 4 message), then for messages the
// Socket.IO type digit (0 connect, 1 disconnect, 2 event, 3 ack, 4 connect error), an optional
// ack id, and JSON. The cookie session goes with the WebSocket handshake (same origin).
export class Socket {
  constructor(auth) {
    this.auth = auth;
    this.handlers = new Map();
    this.acks = new Map();
    this.nextAck = 1;
    this.connected = false;
    this.closedByUs = false;
    this.retryDelay = 500;
  }

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }

  fire(event, ...args) { for (const handler of this.handlers.get(event) || []) handler(...args); }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`);
    this.ws = ws;
    ws.onmessage = (message) => this.receive(String(message.data));
    ws.onclose = () => {
      const was = this.connected;
      this.connected = false;
      clearTimeout(this.pingTimer);
      for (const [, reject] of this.acks.values()) reject(new Error("SERVER_UNREACHABLE"));
      this.acks.clear();
      if (was) this.fire("disconnect");
      if (!this.closedByUs) {
        setTimeout(() => this.connect(), this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, 10000);
      }
    };
  }

  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close();
  }

  receive(packet) {
    const type = packet[0];
    if (type === "0") { // Engine.IO open: then connect to the default namespace with our auth
      const open = JSON.parse(packet.slice(1));
      this.pingTimeout = open.pingInterval + open.pingTimeout;
      this.watchPing();
      this.ws.send("40" + JSON.stringify(this.auth));
    } else if (type === "2") { this.watchPing(); this.ws.send("3"); }
    else if (type === "1") { this.ws.close(); }
    else if (type === "4") { this.receiveSocketIo(packet.slice(1)); }
  }

  // The server pings every pingInterval: silence past interval + timeout means the link is dead.
  watchPing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.ws.close(), this.pingTimeout);
  }

  receiveSocketIo(packet) {
    const type = packet[0];
    const rest = packet.slice(1);
    if (type === "0") {
      this.connected = true;
      this.retryDelay = 500;
      this.fire("connect");
    } else if (type === "4") { // refused at connect: the sign-in ended or browsers are off
      this.closedByUs = true;
      this.fire("connect_error", JSON.parse(rest || "{}"));
      this.ws.close();
    } else if (type === "1") {
      this.closedByUs = true;
      this.ws.close();
    } else if (type === "2" || type === "3") {
      const [, id, json] = rest.match(/^(\d*)(.*)$/s);
      const args = JSON.parse(json);
      if (type === "3") {
        const pending = this.acks.get(Number(id));
        this.acks.delete(Number(id));
        if (pending) pending[0](args[0]);
      } else {
        this.fire(args[0], ...args.slice(1));
      }
    }
  }

  emit(event, data) { if (this.connected) this.ws.send("42" + JSON.stringify([event, data])); }

  // An event with an ack: resolves with the server's answer, rejects when the link drops first or after `timeout` ms.
  call(event, data, timeout = 20000) {
    if (!this.connected) return Promise.reject(new Error("SERVER_UNREACHABLE"));
    const id = this.nextAck++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.acks.delete(id); reject(new Error("TIMED_OUT")); }, timeout);
      this.acks.set(id, [(answer) => { clearTimeout(timer); resolve(answer); }, (error) => { clearTimeout(timer); reject(error); }]);
      this.ws.send("42" + id + JSON.stringify([event, data]));
    });
  }
}
