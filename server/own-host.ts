import net from 'node:net';
import os from 'node:os';

/**
 * The names and addresses by which this machine reaches itself: `localhost`, the loopback addresses, every address
 * of its network interfaces, its host name, and the address the broker was told to listen on. Read anew each time:
 * interfaces come and go (DHCP, VPN).
 */
export function ownHostNames(configuredHost?: string): string[] {
  const addresses = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase()));
  const hostname = os.hostname().toLowerCase();
  const names = ['localhost', '127.0.0.1', '::1', hostname, hostname.split('.')[0]!, ...addresses];
  if (configuredHost && configuredHost !== '0.0.0.0' && configuredHost !== '::') names.push(configuredHost.toLowerCase());
  return [...new Set(names)];
}

/** Whether `hostname` (as `URL.hostname` gives it, IPv6 in brackets or not) is this machine. */
export function isOwnHost(hostname: string, configuredHost?: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true; // RFC 6761 §6.3
  if (net.isIP(host)) {
    const v4 = host.replace(/^::ffff:/, '');
    if (net.isIPv4(v4) && (v4.startsWith('127.') || v4 === '0.0.0.0')) return true;
    if (host === '::1' || host === '::') return true;
  }
  return ownHostNames(configuredHost).includes(host);
}

/** Whether a ws:// or wss:// URL leads to one of the broker's own listeners (`ports`) on this machine. */
export function pointsAtBroker(url: string, ports: number[], configuredHost?: string): boolean {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === 'wss:' ? 443 : 80));
  return ports.includes(port) && isOwnHost(parsed.hostname, configuredHost);
}

/** The host name of a `Host` header, without its port (`[::1]:8080` → `::1`); undefined when there is none. */
export function hostOfHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  if (bracketed) return bracketed[1]!.toLowerCase();
  return header.replace(/:\d+$/, '').toLowerCase();
}
