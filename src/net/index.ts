export { limitsConfigSchema, listenConfigSchema, tlsConfigSchema, type LimitsConfig, type ListenConfig, type TlsConfig } from './config.js';
export { Listener, type ConnectionHandler, type ListenerOptions } from './listener.js';
export { applySocketPermissions, freeSocketPath } from './unix-socket.js';
export { endSocket, nodeConnection, startServerTls, type Connection } from './connection.js';
export { NativeSocket, nodeSocket, type AnySocket, type NativeSocketEvents } from './native-socket.js';
export { nativeAddon, nativeRelayMissing, replaceNativeRelayForTest, type NativeRelay } from './native.js';
export { createServerTls, serverNameMatches, ticketKeys, type ServerTls } from './tls.js';
export { NetworkList, isLoopback, localAddresses, normalizeIp } from './address.js';
export { ConnectionLimits, InProcessCounter, countKeyString, leaseOnce, type Acquired, type ConnectionCounter, type CountKey, type CountRequest, type Lease, type LimitName } from './limits.js';
