export { listenConfigSchema, tlsConfigSchema, type ListenConfig, type TlsConfig } from './config.js';
export { Listener, type ConnectionHandler, type ListenerOptions } from './listener.js';
export { freeSocketPath } from './unix-socket.js';
export { startServerTls, type Connection } from './connection.js';
export { createServerTls, serverNameMatches, type ServerTls } from './tls.js';
export { NetworkList, isLoopback, localAddresses, normalizeIp } from './address.js';
