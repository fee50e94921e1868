// sd_notify for the daemon (Type=notify): READY=1, STATUS=, STOPPING=1 and the watchdog's pings from the event loop.
import { datagrams, type DatagramSender } from './datagram.js';

export interface Notifier {
  ready(status: string): void;
  status(status: string): void;
  stopping(): void;
  /** Starts the watchdog pings when systemd asked for them (WatchdogSec=); no-op otherwise. */
  startWatchdog(): void;
  stopWatchdog(): void;
}

/** STATUS= is one line: systemd shows it in `systemctl status`. */
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/**
 * From the environment systemd gives a Type=notify service: $NOTIFY_SOCKET, and $WATCHDOG_USEC / $WATCHDOG_PID for
 * WatchdogSec=. Without $NOTIFY_SOCKET (run by hand, in the tests) every call is a no-op. The pings come from a timer
 * on the event loop at half the watchdog interval: a loop wedged longer than WatchdogSec= stops them and systemd
 * restarts the service.
 */
export function systemdNotifier(env: NodeJS.ProcessEnv = process.env, sender: DatagramSender = datagrams): Notifier {
  const socket = env['NOTIFY_SOCKET'] ?? '';
  const send = (text: string) => { if (socket !== '') sender.send(socket, Buffer.from(text)); };
  const usec = Number(env['WATCHDOG_USEC'] ?? '');
  const forUs = env['WATCHDOG_PID'] === undefined || Number(env['WATCHDOG_PID']) === process.pid;
  const watchdogMs = socket !== '' && forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : 0;
  let timer: NodeJS.Timeout | null = null;
  return {
    ready: (status) => send(`READY=1\nSTATUS=${oneLine(status)}\nMAINPID=${process.pid}`),
    status: (status) => send(`STATUS=${oneLine(status)}`),
    stopping: () => send('STOPPING=1\nSTATUS=stopping'),
    startWatchdog() {
      if (watchdogMs === 0 || timer !== null) return;
      send('WATCHDOG=1');
      timer = setInterval(() => send('WATCHDOG=1'), Math.max(50, Math.floor(watchdogMs / 2)));
      timer.unref();
    },
    stopWatchdog() {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
