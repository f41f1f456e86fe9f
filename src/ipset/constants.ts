// The kernel's ipset netlink API (linux/netfilter/ipset/ip_set.h, linux/netfilter/nfnetlink.h):
// message types, attribute numbers, flags and error codes. Numbers only.

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_IPSET = 6;
export const NFNETLINK_V0 = 0;

/** The protocol version kipvs speaks; the kernel accepts IPSET_PROTOCOL_MIN..its own version. */
export const IPSET_PROTOCOL = 7;
export const IPSET_PROTOCOL_MIN = 6;
/** Set names are at most 31 bytes (32 with the terminating NUL). */
export const IPSET_MAXNAMELEN = 32;

export const Cmd = {
  PROTOCOL: 1,
  CREATE: 2,
  DESTROY: 3,
  FLUSH: 4,
  RENAME: 5,
  SWAP: 6,
  LIST: 7,
  SAVE: 8,
  ADD: 9,
  DEL: 10,
  TEST: 11,
  HEADER: 12,
  TYPE: 13,
} as const;

/** Attributes at command level. */
export const Attr = {
  PROTOCOL: 1,
  SETNAME: 2,
  TYPENAME: 3,
  /** The second set of a rename or swap (the same number as TYPENAME). */
  SETNAME2: 3,
  REVISION: 4,
  FAMILY: 5,
  FLAGS: 6,
  DATA: 7,
  ADT: 8,
  LINENO: 9,
  PROTOCOL_MIN: 10,
  REVISION_MIN: 10,
  INDEX: 11,
} as const;

/** Attributes inside IPSET_ATTR_DATA (create and add/del/test data). */
export const DataAttr = {
  IP: 1,
  IP_TO: 2,
  CIDR: 3,
  PORT: 4,
  PORT_TO: 5,
  TIMEOUT: 6,
  PROTO: 7,
  CADT_FLAGS: 8,
  /** An entry's line number in a packed add/del (IPSET_ATTR_CADT_LINENO, host byte order). */
  LINENO: 9,
  HASHSIZE: 18,
  MAXELEM: 19,
  NETMASK: 20,
  BUCKETSIZE: 21,
  RESIZE: 22,
  SIZE: 23,
  ELEMENTS: 24,
  REFERENCES: 25,
  MEMSIZE: 26,
  IP2: 20,
  CIDR2: 21,
} as const;

/** Attributes inside IPSET_ATTR_IP / IPSET_ATTR_IP2. */
export const IpAttr = {
  IPV4: 1,
  IPV6: 2,
} as const;

/** Set on attributes whose payload is big-endian; the kernel insists on it for ports, IPs and sizes. */
export const NLA_F_NET_BYTEORDER = 0x4000;

/** Command-level flags (IPSET_ATTR_FLAGS). */
export const IPSET_FLAG_LIST_SETNAME = 1 << 1;
export const IPSET_FLAG_LIST_HEADER = 1 << 2;

export const NFPROTO_UNSPEC = 0;
export const NFPROTO_IPV4 = 2;
export const NFPROTO_IPV6 = 10;

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** ipset's own error codes, sent back as negative errnos. */
export const IPSET_ERR: Record<number, { code: string; text: string }> = {
  4097: { code: 'IPSET_ERR_PROTOCOL', text: 'kernel and kipvs disagree on the ipset protocol' },
  4098: { code: 'IPSET_ERR_FIND_TYPE', text: 'the kernel has no such set type (or revision)' },
  4099: { code: 'IPSET_ERR_MAX_SETS', text: 'the kernel cannot hold more sets' },
  4100: { code: 'IPSET_ERR_BUSY', text: 'in use by a kernel component (e.g. an iptables rule)' },
  4101: { code: 'IPSET_ERR_EXIST_SETNAME2', text: 'the second set already exists' },
  4102: { code: 'IPSET_ERR_TYPE_MISMATCH', text: 'the sets have different types' },
  4103: { code: 'IPSET_ERR_EXIST', text: 'already added, or not in the set' },
  4104: { code: 'IPSET_ERR_INVALID_CIDR', text: 'invalid prefix length' },
  4105: { code: 'IPSET_ERR_INVALID_NETMASK', text: 'invalid netmask' },
  4106: { code: 'IPSET_ERR_INVALID_FAMILY', text: 'wrong address family for the set' },
  4107: { code: 'IPSET_ERR_TIMEOUT', text: 'the set has no timeout support' },
  4108: { code: 'IPSET_ERR_REFERENCED', text: 'the set is referenced and cannot be renamed or swapped' },
  4109: { code: 'IPSET_ERR_IPADDR_IPV4', text: 'invalid IPv4 address' },
  4110: { code: 'IPSET_ERR_IPADDR_IPV6', text: 'invalid IPv6 address' },
  4111: { code: 'IPSET_ERR_COUNTER', text: 'the set has no counter support' },
  4112: { code: 'IPSET_ERR_COMMENT', text: 'the set has no comment support' },
  4113: { code: 'IPSET_ERR_INVALID_MARKMASK', text: 'invalid markmask' },
  4114: { code: 'IPSET_ERR_SKBINFO', text: 'the set has no skbinfo support' },
};

/** Type-specific error codes (from 4352), which mean different things for hash and bitmap types. */
export const IPSET_ERR_TYPE_SPECIFIC = 4352;
export const IPSET_ERR_HASH: Record<number, { code: string; text: string }> = {
  4352: { code: 'IPSET_ERR_HASH_FULL', text: 'the set is full (maxelem reached)' },
  4353: { code: 'IPSET_ERR_HASH_ELEM', text: 'invalid element for the set type' },
  4354: { code: 'IPSET_ERR_INVALID_PROTO', text: 'invalid protocol' },
  4355: { code: 'IPSET_ERR_MISSING_PROTO', text: 'protocol missing' },
  4356: { code: 'IPSET_ERR_HASH_RANGE_UNSUPPORTED', text: 'ranges are not supported by this set type' },
  4357: { code: 'IPSET_ERR_HASH_RANGE', text: 'invalid range' },
};
export const IPSET_ERR_BITMAP: Record<number, { code: string; text: string }> = {
  4352: { code: 'IPSET_ERR_BITMAP_RANGE', text: "outside the set's range" },
  4353: { code: 'IPSET_ERR_BITMAP_RANGE_SIZE', text: 'the range is too large' },
};
