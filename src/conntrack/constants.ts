// ctnetlink's numbers (linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h, and the filter flags of
// net/netfilter/nf_conntrack_netlink.c, which the UAPI headers do not export).
export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_CTNETLINK = 1;
export const NFNETLINK_V0 = 0;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** enum cntl_msg_types */
export const Msg = {
  NEW: 0,
  GET: 1,
  DELETE: 2,
} as const;

/** enum ctattr_type */
export const Cta = {
  TUPLE_ORIG: 1,
  TUPLE_REPLY: 2,
  STATUS: 3,
  TIMEOUT: 7,
  MARK: 8,
  ID: 12,
  ZONE: 18,
  FILTER: 28,
} as const;

/** enum ctattr_tuple */
export const TupleAttr = {
  IP: 1,
  PROTO: 2,
  ZONE: 3,
} as const;

/** enum ctattr_ip */
export const IpAttr = {
  V4_SRC: 1,
  V4_DST: 2,
  V6_SRC: 3,
  V6_DST: 4,
} as const;

/** enum ctattr_l4proto */
export const ProtoAttr = {
  NUM: 1,
  SRC_PORT: 2,
  DST_PORT: 3,
} as const;

/** enum ctattr_filter */
export const FilterAttr = {
  ORIG_FLAGS: 1,
  REPLY_FLAGS: 2,
} as const;

/** CTA_FILTER_F_* (kernel-internal): which fields of the filter tuple a dump must match. */
export const FILTER_F_PROTO_NUM = 1 << 3;
