// One receive attempt: a verified fd, or a chunk-checked feed, through the decompressor (or not) into zfs recv.
import type { Decompressor } from '../adapters/decompress.js';
import type { RecvFeed, RecvOptions, Zfs } from '../adapters/zfs.js';
import { isPipeError } from '../adapters/zfs-messages.js';
import { UpgradeError, ZfsError } from '../errors.js';
import type { Logger } from '../log.js';

/** Where the stream's bytes come from: a descriptor checked as a whole before, or a feed that checks as it writes. */
export type StreamSource = { fd: number } | { feed: RecvFeed };

/** One receive attempt into `target` (`dataset@version`); a feed's own failure (a bad chunk) wins over the rest. */
export async function receiveOnce(
  deps: { zfs: Zfs; log: Logger; decompressor: Decompressor },
  source: StreamSource,
  compression: 'xz' | 'none',
  target: string,
  opts: RecvOptions,
): Promise<void> {
  if (compression === 'none') return deps.zfs.recv(target, 'fd' in source ? source.fd : source.feed, opts);
  const xz = deps.decompressor.start('fd' in source ? source.fd : 'pipe');
  const { stdin: xzIn, stdout: xzOut } = xz;
  let fed: Promise<unknown> = Promise.resolve(null);
  if ('feed' in source && xzIn) {
    xzIn.on('error', () => undefined); // EPIPE once xz died: its own exit says why
    fed = source.feed(xzIn).then(
      () => new Promise<null>((resolve) => xzIn.end(() => resolve(null))),
      (err: unknown) => {
        // Nothing of the bad chunk was written; xz dies before it could flush more of what it already has.
        xz.kill();
        xzIn.destroy();
        return err;
      },
    );
  }
  // Same tick as the spawn: zfs recv takes xz's stdout before this process could read a byte of it.
  const recv = deps.zfs.recv(target, xzOut, opts).then(
    () => null,
    (err: unknown) => err,
  );
  const [recvErr, x, feedErr] = await Promise.all([recv, xz.done, fed]);
  if (feedErr !== null && !isPipeError(feedErr)) throw feedErr;
  const xzFailed = x.error !== undefined || x.code !== 0;
  // xz dying of EPIPE is a consequence of recv giving up, not a decompression problem.
  const brokenPipe = x.signal === 'SIGPIPE' || /broken pipe/i.test(x.stderr);
  if (xzFailed && !brokenPipe && (recvErr !== null || x.error)) {
    throw new UpgradeError('E_DECOMPRESS', `xz could not decompress the stream: ${x.error?.message ?? x.stderr}`, {
      cause: recvErr ?? x.error,
      context: { xzStderr: x.stderr, xzExit: x.code, xzSignal: x.signal, recvStderr: recvErr instanceof ZfsError ? recvErr.context['stderr'] : undefined },
    });
  }
  if (recvErr !== null) throw recvErr;
  if (xzFailed) {
    // zfs accepted a complete, self-checksummed stream; the export's image sha256 still has the last word.
    deps.log.warn({ xzStderr: x.stderr, xzExit: x.code }, 'xz reported an error after zfs recv accepted the stream');
  }
}
