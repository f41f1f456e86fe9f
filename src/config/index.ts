export { loadConfig, usage, parseConfigFile, ConfigError } from './config.js';
export type { AgentConfig, DetectLocalMode, LoadDeps } from './config.js';
export { parseGoDurationMs, parseGoDurationNs } from './duration.js';
