export { ProxyModel, sameDesired } from './model.js';
export { computeService } from './compute.js';
export {
  serviceName, sliceName, isIgnoredService, usesNodePorts, usesLocalAddresses,
  LABEL_SERVICE_NAME, LABEL_PROXY_NAME, LABEL_HEADLESS, LABEL_ZONE,
  ANNOTATION_SCHEDULER, DEFAULT_AFFINITY_TIMEOUT,
} from './labels.js';
export { nodePortAddresses, nodePrimaryIPs } from './nodeports.js';
export { parseCidr, cidrContains, isLoopback, isIPv6LinkLocal } from '../netlink/cidr.js';
export type { Cidr } from '../netlink/cidr.js';
export type * from './types.js';
