// Unix datagrams from Node (sd_notify, the journal's native socket): sent by one long-lived perl child, since Node has none.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * Node's core has no AF_UNIX SOCK_DGRAM sockets (dgram is UDP only), and both $NOTIFY_SOCKET and
 * /run/systemd/journal/socket are datagram sockets. This child reads `<socket path>\t<hex payload>\n` lines and sends
 * each payload as one datagram. perl-base (Essential in Debian, and already the agent's ioctl helper) has Socket. It is
 * started once and lives as long as the agent, in the same cgroup: systemd attributes its datagrams to the service by
 * the sender's pid, which a short-lived `systemd-notify` child can lose by exiting first (systemd 252).
 * An abstract socket is written with a leading `@`, as systemd does in $NOTIFY_SOCKET.
 */
export const DATAGRAM_HELPER = String.raw`
use strict; use warnings; use Socket;
socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "upgrade-agent datagram helper: socket: $!\n";
while (my $line = <STDIN>) {
  chomp $line;
  my ($path, $hex) = split /\t/, $line, 2;
  next unless defined $hex && length $path;
  $path =~ s/^\@/\0/;
  send($s, pack('H*', $hex), 0, pack_sockaddr_un($path)) or warn "upgrade-agent datagram helper: $path: $!\n";
}
`;

export interface DatagramSender {
  send(socketPath: string, payload: Buffer): void;
}

let helper: ChildProcess | null = null;
let broken = false;

function child(): ChildProcess | null {
  if (broken) return null;
  if (helper?.stdin?.writable) return helper;
  try {
    const c = spawn('perl', ['-e', DATAGRAM_HELPER], { stdio: ['pipe', 'ignore', 'inherit'] });
    // The helper never keeps the agent alive: it ends at its stdin's EOF, when the agent exits.
    c.unref();
    (c.stdin as unknown as Socket).unref();
    c.on('error', () => { broken = true; helper = null; });
    c.on('exit', () => { if (helper === c) helper = null; });
    c.stdin.on('error', () => undefined);
    helper = c;
    return c;
  } catch {
    broken = true;
    return null;
  }
}

/** The process-wide sender (the helper is spawned at the first send). Best effort: a failed send is dropped. */
export const datagrams: DatagramSender = {
  send(socketPath, payload) {
    child()?.stdin?.write(`${socketPath}\t${payload.toString('hex')}\n`);
  },
};
