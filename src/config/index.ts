export { loadConfig, usage, parseConfigFile } from './config.js';
export type { LoadDeps } from './config.js';
export { ConfigError, ConfigErrors } from './errors.js';
export type { ConfigWarning } from './errors.js';
export type { AgentConfig, DetectLocalMode } from './types.js';
export { SETTINGS } from './table.js';
export type { Setting, Status } from './table.js';
export { configurationDoc } from './docs.js';
export { parseGoDurationMs, parseGoDurationNs } from './duration.js';
