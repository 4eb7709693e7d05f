import { BlockList, isIP } from 'node:net';

/**
 * Where an IP address leads, for SSRF protection: only `public` targets receive webhooks unless the
 * operator allows private ones. Pure: no DNS here; callers classify every resolved address.
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'carrier-grade-nat'
  | 'multicast'
  | 'unspecified'
  | 'reserved';

type RefusedClass = Exclude<AddressClass, 'public'>;

/** IANA special-purpose ranges (RFC 6890 and successors) a webhook must never reach. */
const REFUSED_RANGES: ReadonlyArray<readonly [RefusedClass, 'ipv4' | 'ipv6', string, number]> = [
  ['unspecified', 'ipv4', '0.0.0.0', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['carrier-grade-nat', 'ipv4', '100.64.0.0', 10],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['reserved', 'ipv4', '192.0.0.0', 24],
  ['reserved', 'ipv4', '192.0.2.0', 24],
  ['reserved', 'ipv4', '192.88.99.0', 24],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['reserved', 'ipv4', '198.18.0.0', 15],
  ['reserved', 'ipv4', '198.51.100.0', 24],
  ['reserved', 'ipv4', '203.0.113.0', 24],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  // 240/4 includes the limited broadcast address 255.255.255.255.
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['reserved', 'ipv6', '64:ff9b:1::', 48],
  ['reserved', 'ipv6', '100::', 64],
  // IETF protocol assignments, Teredo among them: tunnels whose far end we cannot judge.
  ['reserved', 'ipv6', '2001::', 23],
  ['reserved', 'ipv6', '2001:db8::', 32],
  // 6to4 embeds an IPv4 address of any kind.
  ['reserved', 'ipv6', '2002::', 16],
  ['private', 'ipv6', 'fc00::', 7],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['private', 'ipv6', 'fec0::', 10],
  ['multicast', 'ipv6', 'ff00::', 8],
];

const RANGES_BY_CLASS: ReadonlyMap<RefusedClass, BlockList> = (() => {
  const lists = new Map<RefusedClass, BlockList>();
  for (const [addressClass, family, network, prefix] of REFUSED_RANGES) {
    let list = lists.get(addressClass);
    if (list === undefined) {
      list = new BlockList();
      lists.set(addressClass, list);
    }
    list.addSubnet(network, prefix, family);
  }
  return lists;
})();

const IPV6_GROUPS = 8;
const NAT64_PREFIX = [0x64, 0xff9b, 0, 0, 0, 0];

/** The class of an IP literal; `undefined` when `address` is not an IP address at all. */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return classifyIn(bare, 'ipv4');
  if (family !== 6) return undefined;
  const groups = ipv6Groups(bare);
  if (groups === undefined) return undefined;
  const embedded = embeddedIpv4(groups);
  // Mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses lead to their IPv4 address.
  if (embedded !== undefined) return classifyIn(embedded, 'ipv4');
  // IPv4-compatible (::a.b.c.d, deprecated) addresses have no business as webhook targets.
  if (groups.slice(0, 6).every((group) => group === 0) && !isUnspecifiedOrLoopback(groups)) {
    return 'reserved';
  }
  return classifyIn(bare, 'ipv6');
}

export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'public';
}

function classifyIn(address: string, family: 'ipv4' | 'ipv6'): AddressClass {
  for (const [addressClass, list] of RANGES_BY_CLASS) {
    if (list.check(address, family)) return addressClass;
  }
  return 'public';
}

function isUnspecifiedOrLoopback(groups: readonly number[]): boolean {
  return groups.slice(0, 7).every((group) => group === 0) && (groups[7] ?? 0) <= 1;
}

function embeddedIpv4(groups: readonly number[]): string | undefined {
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  const nat64 = NAT64_PREFIX.every((group, index) => groups[index] === group);
  if (!mapped && !nat64) return undefined;
  const high = groups[6] ?? 0;
  const low = groups[7] ?? 0;
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** The eight 16-bit groups of a valid IPv6 literal (with `::` and a trailing dotted quad expanded). */
export function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const octets = dotted.slice(1).map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined) =>
    part === undefined || part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const missing = IPV6_GROUPS - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array.from({ length: halves.length === 2 ? missing : 0 }, () => 0), ...tail];
  return groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff)
    ? groups
    : undefined;
}
