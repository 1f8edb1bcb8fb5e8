export { listenConfigSchema, tlsConfigSchema, type ListenConfig, type TlsConfig } from './config.js';
export { Listener, type ConnectionHandler } from './listener.js';
export { startServerTls, type Connection } from './connection.js';
export { createServerTls, serverNameMatches, type ServerTls } from './tls.js';
export { NetworkList, isLoopback, localAddresses, normalizeIp } from './address.js';
export { applySocketPermissions, freeSocketPath } from './unix-socket.js';
