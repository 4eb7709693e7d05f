import { describe, expect, it } from 'vitest';
import { classifyAddress, ipv6Groups } from './target-address.domain.js';
import { parseTargetUrl } from './target-url.domain.js';

describe('target address classification', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.254', 'carrier-grade-nat'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2002:7f00:1::', 'reserved'],
  ])('refuses %s as %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '[2a00:1450:4001:80b::200e]',
  ])('accepts the public address %s', (address) => {
    expect(classifyAddress(address)).toBe('public');
  });

  it('judges IPv4-mapped and NAT64 addresses by the IPv4 address inside', () => {
    expect(classifyAddress('::ffff:127.0.0.1')).toBe('loopback');
    expect(classifyAddress('::ffff:7f00:1')).toBe('loopback');
    expect(classifyAddress('::ffff:a9fe:a9fe')).toBe('link-local');
    expect(classifyAddress('64:ff9b::10.0.0.1')).toBe('private');
    expect(classifyAddress('::ffff:8.8.8.8')).toBe('public');
    expect(classifyAddress('::127.0.0.1')).toBe('reserved');
  });

  it('is not fooled by names, and says so', () => {
    expect(classifyAddress('localhost')).toBeUndefined();
    expect(classifyAddress('example.com')).toBeUndefined();
  });

  it('expands IPv6 literals', () => {
    expect(ipv6Groups('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('2001:db8::8:800:200c:417a')).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(ipv6Groups('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    expect(ipv6Groups('1::2::3')).toBeUndefined();
  });
});

describe('target URL syntax', () => {
  it('accepts http(s) and normalises odd IPv4 spellings to dotted quads', () => {
    expect(parseTargetUrl('https://hooks.example.com/in?x=1')).toMatchObject({
      ok: true,
      host: 'hooks.example.com',
      isIpLiteral: false,
    });
    expect(parseTargetUrl('http://2130706433/')).toMatchObject({
      ok: true,
      host: '127.0.0.1',
      isIpLiteral: true,
    });
    expect(parseTargetUrl('http://0x7f.1/')).toMatchObject({ ok: true, host: '127.0.0.1' });
    expect(parseTargetUrl('http://[::1]:8080/')).toMatchObject({ ok: true, host: '::1', isIpLiteral: true });
  });

  it.each([
    ['ftp://example.com/', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['gopher://example.com/', 'scheme'],
    ['https://user:pass@example.com/', 'credentials'],
    ['https://user@example.com/', 'credentials'],
    ['not a url', 'not-a-url'],
    ['/relative', 'not-a-url'],
    [`https://example.com/${'a'.repeat(2100)}`, 'too-long'],
  ])('refuses %s (%s)', (url, problem) => {
    expect(parseTargetUrl(url)).toMatchObject({ ok: false, problem });
  });
});
