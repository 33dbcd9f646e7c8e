#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A storm of mixed b10t processes against one store, then `b10t stats`.

    stats_storm.py N WORKDIR

Starts N processes at once (each blocks on one pipe until all are
started, then the pipe's close releases them together): loads that hit,
loads that miss, loads into a full cache dir (SKIPPED), loads into a file
(ERROR ENOTDIR), racing first saves of one key (one SUCCESS, the rest
SKIPPED) and saves over MAX_CACHE_SIZE_MB (ERROR EFBIG).  Each prints its
JSON; the counts they report, per key and in all, are compared with what
`b10t stats --json` sums from their records.  Output: one line per check,
"ok<TAB>what" or "fail<TAB>what" then "#" lines, which tests/cli/t-stats.sh
turns into its TAP; the environment as the caller's (B10T,
B10FS_CACHE_DIR, the B10T_* of tests/cli/lib.sh).
"""
import json
import os
import subprocess
import sys

B10T = os.environ['B10T']


def main():
	n, work = int(sys.argv[1]), sys.argv[2]
	store = os.environ['B10FS_CACHE_DIR']
	env0 = dict(os.environ, B10T_STATS='1')

	def env(torch, cache, **extra):
		e = dict(env0, B10T_TORCH_VERSION=torch, TORCHINDUCTOR_CACHE_DIR=cache)
		e.update(extra)
		return e

	# Key A published; key B never is; C is saved by racers; D is too big.
	src = os.path.join(work, 'src')
	os.makedirs(os.path.join(src, 'd'))
	with open(os.path.join(src, 'd', 'k.py'), 'w') as f:
		f.write('x = 1\n' * 1000)
	big = os.path.join(work, 'big')
	os.makedirs(big)
	with open(os.path.join(big, 'blob'), 'wb') as f:
		f.write(os.urandom(3 << 20))
	full = os.path.join(work, 'full')
	os.makedirs(full)
	with open(os.path.join(full, 'x'), 'w') as f:
		f.write('x')
	afile = os.path.join(work, 'afile')
	with open(afile, 'w') as f:
		f.write('not a dir')
	r = subprocess.run([B10T, 'save'], env=dict(env('1.0.0', src), B10T_STATS='0'),
			   capture_output=True)
	if r.returncode != 0:
		print('Bail out! the first save fails: %s' % r.stderr.decode())
		sys.exit(1)

	kinds = [
		('hit', lambda i: (env('1.0.0', os.path.join(work, 'c%d' % i)), 'load')),
		('miss', lambda i: (env('2.0.0', os.path.join(work, 'c%d' % i)), 'load')),
		('full', lambda i: (env('1.0.0', full), 'load')),
		('file', lambda i: (env('1.0.0', afile), 'load')),
		('race', lambda i: (env('3.0.0', src), 'save')),
		('big', lambda i: (env('4.0.0', big, MAX_CACHE_SIZE_MB='1'), 'save')),
	]
	rfd, wfd = os.pipe()
	procs = []
	for i in range(n):
		what, mk = kinds[i % len(kinds)]
		e, verb = mk(i)
		p = subprocess.Popen(['sh', '-c', 'read _ <&%d; exec "$0" "$@"' % rfd, B10T, verb,
				      '--json=short'], env=e, pass_fds=(rfd,),
				     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
		procs.append((what, verb, p))
	os.close(rfd)
	os.close(wfd)		# every process starts now
	want = {}		# key -> {field: count}
	total = {}
	outcome = {(0, 'load'): 'load_hits', (3, 'load'): 'load_misses',
		   (4, 'load'): 'load_skipped', (1, 'load'): 'load_errors',
		   (0, 'save'): 'save_published', (4, 'save'): 'save_skipped',
		   (1, 'save'): 'save_errors'}
	bad = []
	for what, verb, p in procs:
		out, _ = p.communicate(timeout=120)
		try:
			o = json.loads(out)
		except ValueError:
			bad.append('%s %s: exit %d, no JSON: %r' % (what, verb, p.returncode, out[:200]))
			continue
		field = outcome.get((p.returncode, verb))
		if not field:
			bad.append('%s %s: exit %d' % (what, verb, p.returncode))
			continue
		k = o.get('environment_key')
		for d in (want.setdefault(k, {}), total):
			d[field] = d.get(field, 0) + 1
			if field.endswith('_errors'):
				d.setdefault('kinds', {})
				kind = 'ENOTDIR' if what == 'file' else 'EFBIG'
				d['kinds'][kind] = d['kinds'].get(kind, 0) + 1
	t = 0

	def ok(cond, desc, diag=''):
		nonlocal t
		t += 1
		print('%s\t%s' % ('ok' if cond else 'fail', desc))
		if not cond:
			for line in str(diag).splitlines()[:30]:
				print('#   ' + line)
		return cond

	ok(not bad, 'storm of %d processes: each answered with its JSON and a contract exit code' % n,
	   '\n'.join(bad))
	ok(total.get('save_published') == 1, 'storm: one of the racing saves published',
	   str(total))
	r = subprocess.run([B10T, 'stats', '--json'], env=env0, capture_output=True, text=True)
	try:
		st = json.loads(r.stdout)
	except ValueError:
		st = {}
	ok(r.returncode == 0 and st.get('status') == 'SUCCESS', 'storm: b10t stats --json succeeds',
	   r.stdout + r.stderr)
	ok(st.get('records') == n and st.get('bad_lines') == 0,
	   'storm: %d records, none torn or lost (%s records, %s bad lines)' %
	   (n, st.get('records'), st.get('bad_lines')))
	fields = ['load_hits', 'load_misses', 'load_skipped', 'load_errors', 'save_published',
		  'save_skipped', 'save_errors']

	def compare(got, w):
		diffs = ['%s: stats %s, processes %s' % (f, got.get(f), w.get(f, 0))
			 for f in fields if got.get(f) != w.get(f, 0)]
		if got.get('errors_by_kind') != w.get('kinds', {}):
			diffs.append('errors_by_kind: stats %s, processes %s' % (
				got.get('errors_by_kind'), w.get('kinds', {})))
		return diffs

	d = compare(st.get('total', {}), total)
	ok(not d, 'storm: the store\'s totals equal what the processes reported (%s)' %
	   ', '.join('%s=%d' % (f, total.get(f, 0)) for f in fields), '\n'.join(d))
	keys = {k['environment_key']: k for k in st.get('keys', [])}
	d = []
	for k, w in want.items():
		d += ['key %s: %s' % (k, x) for x in compare(keys.get(k, {}), w)]
	ok(not d and set(keys) == set(want),
	   'storm: per key too (%d keys), errors by kind included' % len(want), '\n'.join(d))
	hits = st.get('total', {})
	ok(isinstance(hits.get('median_load_s'), (int, float)) and hits.get('bytes_served', 0) > 0,
	   'storm: a median load time and the bytes served', str(hits))


if __name__ == '__main__':
	main()
