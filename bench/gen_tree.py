#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate a realistic TorchInductor cache tree, seeded and deterministic.

    python3 bench/gen_tree.py --size medium --seed 1 --out /dev/shm/tree

The tree has the shape torch.compile leaves behind:

    triton/0/<hash>/        one dir per Triton kernel: .cubin .ptx .ttir
                            .ttgir .llir .json __grp__<name>.json
    <2 chars>/c<hash>.py    Inductor's kernel sources (and a few .cpp/.so)
    fxgraph/<2>/<key>/<h>   FX graph cache entries (pickles holding code)
    aotautograd/<key>/<h>   (no <2> level: so torch 2.13 lays it out)
    locks/<hash>.lock       empty lock files

--size cpu is the shape a real CPU model leaves (measured with torch
2.13.0+cpu, bench/torch_bench.py): no triton/, per graph one output .py
(~23 KB), one fxgraph entry (~120 KB) and one aotautograd entry (~90 KB),
and per C++ kernel a <2>/c<h>.main.cpp (~8 KB) with its .main.so (~63 KB)
and an empty lock; plus six ISA-probe .cpp/.so pairs.  A quarter of its
files are empty locks, and no file is over a few hundred KB.

Sizes: a median near 8 KB and a long tail, with one large .so of tens of
MB.  Content compresses like the real thing: text (PTX, LLVM IR, MLIR,
Python) is drawn from token vocabularies with random identifiers and
numbers (lz4 -1 ratio about 4-6x); cubin-like binaries mix structured
headers, instruction-like 16-byte words and random bytes (about 1.5-3x).

Speed: each kind of content is generated once as a corpus of a few MB;
a file is a per-file header plus slices of its corpus at random offsets.
The slices are far apart in the corpus, so compressors with windows
smaller than the corpus (lz4 64 KB, gzip 32 KB, zstd -1 512 KB) see the
corpus's own compressibility, not copies.  Same seed, same bytes.
"""
import argparse
import json
import math
import os
import random
import re
import statistics
import sys
import time

MB = 1 << 20

# Per size: total bytes and approximate file count.
SIZES = {
	"small": (50 * MB, 625),
	"medium": (400 * MB, 5000),
	"large": (2048 * MB, 25000),
	# ~100 graphs of a CPU model (generate_cpu): the byte and file counts
	# follow from its per-graph profile.
	"cpu": (45 * MB, 1218),
}

KCAP = 8 * MB		# largest kernel file
FIXED_MTIME = 1700000000	# so tar archives of two trees of one seed match

OPS_PTX = [
	("ld.global.v4.b32", "{ %r{r}, %r{r}, %r{r}, %r{r} }, [ %rd{r} + {o} ]"),
	("ld.global.b32", "{ %r{r} }, [ %rd{r} + {o} ]"),
	("st.global.v4.b32", "[ %rd{r} + {o} ], { %r{r}, %r{r}, %r{r}, %r{r} }"),
	("st.global.b32", "[ %rd{r} + {o} ], { %r{r} }"),
	("ld.shared.v4.f32", "{%f{r}, %f{r}, %f{r}, %f{r}}, [%r{r}+{o}]"),
	("st.shared.f32", "[%r{r}+{o}], %f{r}"),
	("mov.u32", "%r{r}, %tid.x"),
	("mov.u32", "%r{r}, %ctaid.x"),
	("mov.b32", "%f{r}, %r{r}"),
	("mov.b32", "%r{r}, %f{r}"),
	("shl.b32", "%r{r}, %r{r}, {n}"),
	("and.b32", "%r{r}, %r{r}, {n}"),
	("or.b32", "%r{r}, %r{r}, %r{r}"),
	("add.s32", "%r{r}, %r{r}, %r{r}"),
	("add.s32", "%r{r}, %r{r}, {n}"),
	("mul.wide.s32", "%rd{r}, %r{r}, 4"),
	("add.s64", "%rd{r}, %rd{r}, %rd{r}"),
	("add.f32", "%f{r}, %f{r}, %f{r}"),
	("mul.f32", "%f{r}, %f{r}, %f{r}"),
	("fma.rn.f32", "%f{r}, %f{r}, %f{r}, %f{r}"),
	("max.f32", "%f{r}, %f{r}, %f{r}"),
	("ex2.approx.f32", "%f{r}, %f{r}"),
	("setp.lt.s32", "%p{r}, %r{r}, {n}"),
	("selp.b32", "%r{r}, %r{r}, %r{r}, %p{r}"),
	("cvt.rn.bf16.f32", "%rs{r}, %f{r}"),
	("shfl.sync.bfly.b32", "%r{r}, %r{r}, {n}, 31, -1"),
	("bar.sync", "0"),
	("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
	 "{ %f{r}, %f{r}, %f{r}, %f{r} }, { %r{r}, %r{r}, %r{r}, %r{r} }, "
	 "{ %r{r}, %r{r} }, { %f{r}, %f{r}, %f{r}, %f{r} }"),
	("cp.async.cg.shared.global", "[ %r{r} + 0 ], [ %rd{r} + 0 ], 0x10, %r{r}"),
	("ldmatrix.sync.aligned.m8n8.x4.shared.b16", "{ %r{r}, %r{r}, %r{r}, %r{r} }, [ %r{r} + {o} ]"),
]

OPS_LLIR = [
	"%{v} = getelementptr float, ptr addrspace(1) %{v}, i64 %{v}, !dbg !{d}",
	"%{v} = getelementptr inbounds i8, ptr addrspace(3) @global_smem, i32 %{v}, !dbg !{d}",
	"%{v} = fadd float %{v}, %{v}, !dbg !{d}",
	"%{v} = fmul float %{v}, %{v}, !dbg !{d}",
	"%{v} = tail call float @llvm.nvvm.fmax.f(float %{v}, float %{v}), !dbg !{d}",
	"%{v} = shl i32 %{v}, {n}, !dbg !{d}",
	"%{v} = and i32 %{v}, {n}, !dbg !{d}",
	"%{v} = or disjoint i32 %{v}, %{v}, !dbg !{d}",
	"%{v} = add i32 %{v}, %{v}, !dbg !{d}",
	"%{v} = sext i32 %{v} to i64, !dbg !{d}",
	"%{v} = icmp slt i32 %{v}, {n}, !dbg !{d}",
	"%{v} = select i1 %{v}, i32 %{v}, i32 0, !dbg !{d}",
	"%{v} = bitcast i32 %{v} to float, !dbg !{d}",
	"%{v} = tail call i32 asm sideeffect \"mov.u32 $0, 0x0;\\0A\\09@$2 ld.global.b32 { $0 }, [ $1 + 0 ];\", \"=r,l,b\"(ptr addrspace(1) %{v}, i1 %{v}) #2, !dbg !{d}",
	"tail call void asm sideeffect \"@$2 st.global.b32 [ $1 + 0 ], { $0 };\", \"r,l,b\"(i32 %{v}, ptr addrspace(1) %{v}, i1 %{v}) #2, !dbg !{d}",
	"%{v} = tail call i32 @llvm.nvvm.read.ptx.sreg.tid.x(), !dbg !{d}",
	"%{v} = insertelement <4 x float> poison, float %{v}, i64 0, !dbg !{d}",
	"store <4 x float> %{v}, ptr addrspace(3) %{v}, align 16, !dbg !{d}",
	"tail call void @llvm.nvvm.barrier0(), !dbg !{d}",
	"br i1 %{v}, label %{v}, label %{v}, !dbg !{d}",
]

OPS_MLIR = [
	"%{v} = tt.get_program_id x : i32 loc(#loc{d})",
	"%c{n}_i32 = arith.constant {n} : i32 loc(#loc{d})",
	"%{v} = arith.muli %{v}, %c{n}_i32 : i32 loc(#loc{d})",
	"%{v} = arith.addi %{v}, %{v} : tensor<{b}xi32, #blocked> loc(#loc{d})",
	"%{v} = tt.make_range {{end = {b} : i32, start = 0 : i32}} : tensor<{b}xi32, #blocked> loc(#loc{d})",
	"%{v} = tt.splat %{v} : i32 -> tensor<{b}xi32, #blocked> loc(#loc{d})",
	"%{v} = arith.cmpi slt, %{v}, %{v} : tensor<{b}xi32, #blocked> loc(#loc{d})",
	"%{v} = tt.addptr %{v}, %{v} : tensor<{b}x!tt.ptr<f32>, #blocked>, tensor<{b}xi32, #blocked> loc(#loc{d})",
	"%{v} = tt.load %{v}, %{v} : tensor<{b}x!tt.ptr<f32>, #blocked> loc(#loc{d})",
	"tt.store %{v}, %{v}, %{v} : tensor<{b}x!tt.ptr<bf16>, #blocked> loc(#loc{d})",
	"%{v} = arith.addf %{v}, %{v} : tensor<{b}xf32, #blocked> loc(#loc{d})",
	"%{v} = arith.mulf %{v}, %{v} : tensor<{b}xf32, #blocked> loc(#loc{d})",
	"%{v} = math.exp2 %{v} : tensor<{b}xf32, #blocked> loc(#loc{d})",
	"%{v} = arith.truncf %{v} : tensor<{b}xf32, #blocked> to tensor<{b}xbf16, #blocked> loc(#loc{d})",
	"%{v} = ttg.convert_layout %{v} : tensor<{b}x{b}xf32, #mma> -> tensor<{b}x{b}xf32, #blocked1> loc(#loc{d})",
	"%{v} = tt.dot %{v}, %{v}, %{v}, inputPrecision = tf32 : tensor<{b}x32xbf16, #ttg.dot_op<{{opIdx = 0, parent = #mma, kWidth = 8}}>> * tensor<32x{b}xbf16, #ttg.dot_op<{{opIdx = 1, parent = #mma, kWidth = 8}}>> -> tensor<{b}x{b}xf32, #mma> loc(#loc{d})",
	"#loc{d} = loc(\"/tmp/torchinductor_root/{h2}/c{h}.py\":{n}:{n})",
	"%{v} = \"tt.reduce\"(%{v}) <{{axis = 1 : i32}}> ({{",
	"}}) : (tensor<{b}x{b}xf32, #blocked>) -> tensor<{b}xf32, #ttg.slice<{{dim = 1, parent = #blocked}}>> loc(#loc{d})",
]

PY_LINES = [
	"    tmp{v} = tl.load(in_ptr{s} + (x{s} + ({n}*x{s})), xmask, eviction_policy='evict_last').to(tl.float32)",
	"    tmp{v} = tmp{v} + tmp{v}",
	"    tmp{v} = tmp{v} * tmp{v}",
	"    tmp{v} = tl.full([1], {n}, tl.int32)",
	"    tmp{v} = triton_helpers.maximum(tmp{v}, tmp{v})",
	"    tmp{v} = libdevice.rsqrt(tmp{v})",
	"    tmp{v} = tl.broadcast_to(tmp{v}, [XBLOCK, RBLOCK])",
	"    tmp{v} = tl.where(rmask & xmask, tmp{v}, _tmp{v})",
	"    tmp{v} = tmp{v}.to(tl.float32)",
	"    tl.store(out_ptr{s} + (x{s} + ({n}*r{s})), tmp{v}, rmask & xmask)",
	"    x{s} = xindex % {n}",
	"    x{s} = (xindex // {n})",
	"    xoffset = tl.program_id(0) * XBLOCK",
	"    xindex = xoffset + tl.arange(0, XBLOCK)[:]",
	"    xmask = xindex < xnumel",
	"    for roffset in range(0, rnumel, RBLOCK):",
	"        rindex = roffset + rbase",
	"        rmask = rindex < rnumel",
	"        r{s} = rindex",
	"        tmp{v} = tl.load(in_ptr{s} + (r{s} + ({n}*x{s})), rmask & xmask, eviction_policy='evict_first', other=0.0).to(tl.float32)",
	"        _tmp{v} = tl.where(rmask & xmask, tmp{v}, _tmp{v})",
	"    buf{v} = empty_strided_cuda(({n}, {n}), ({n}, 1), torch.bfloat16)",
	"    extern_kernels.mm(reinterpret_tensor(buf{v}, ({n}, {n}), ({n}, 1), 0), reinterpret_tensor(arg{s}_1, ({n}, {n}), (1, {n}), 0), out=buf{v})",
	"    triton_poi_fused_add_mul_{s}.run(buf{v}, arg{s}_1, buf{v}, {n}, grid=grid({n}), stream=stream0)",
	"    del buf{v}",
	"    # Topologically Sorted Source Nodes: [x_{s}, mul_{s}, add_{s}], Original ATen: [aten.mul, aten.add]",
	"    # Source node to ATen node mapping:",
	"    #   add_{s} => add_tensor_{s}",
]


FIELD = re.compile(r"\{\{|\}\}|\{(\w+)\}")
BACK = (0, 1, 1, 2, 2, 3, 4, 6)	# registers reused soon after they are set
NUMS = (1, 2, 4, 8, 16, 31, 32, 64, 127, 128, 255, 256, 512, 1024, 2048, 4096)


class Gen:
	"""All content generation, from one seeded random.Random."""

	def __init__(self, seed):
		self.r = random.Random(seed)

	def hexs(self, n):
		return "%0*x" % (n, self.r.getrandbits(4 * n))

	def b32(self, n):
		a = "abcdefghijklmnopqrstuvwxyz234567"
		return "".join(self.r.choice(a) for _ in range(n))

	def lognormal(self, median, sigma, lo=0, hi=1 << 40):
		v = int(median * math.exp(self.r.gauss(0, sigma)))
		return max(lo, min(hi, v))

	def kernel_name(self):
		kind = self.r.choice(["poi", "per", "red", "tem"])
		ops = self.r.sample(["add", "mul", "sub", "div", "mean", "pow", "rsqrt",
				     "silu", "exp", "sum", "amax", "cat", "clone", "embedding",
				     "index", "native_layer_norm", "convert_element_type",
				     "view", "bmm", "mm", "addmm", "gelu", "neg", "sigmoid"],
				    self.r.randint(1, 5))
		return "triton_%s_fused_%s_%d" % (kind, "_".join(ops), self.r.randint(0, 80))

	# ---- text corpora -------------------------------------------------

	def _fill(self, tmpl, regs):
		"""Format a template: {r}/{v} registers near a running base, {s}
		small indices, {n} numbers, {o} offsets, {d} debug ids, {b} block
		sizes, {h}/{h2} hashes; {{ and }} are literal braces."""
		r = self.r

		def sub(m):
			key = m.group(1)
			if key is None:
				return m.group(0)[0]
			if key in ("r", "v"):
				return str(max(0, regs[0] - r.choice(BACK)))
			if key == "s":
				return str(r.randint(0, 9))
			if key == "n":
				if r.random() < 0.85:
					return str(r.choice(NUMS))
				return str(r.randint(0, 99999))
			if key == "o":
				return str(r.choice((0, 4, 8, 16, 32, 64, 128, 256, 512, 1024)))
			if key == "d":
				regs[1] += r.randint(0, 2)
				return str(regs[1])
			if key == "b":
				return str(r.choice((16, 32, 64, 128, 256, 512, 1024)))
			if key == "h":
				return self.b32(52)
			if key == "h2":
				return self.b32(2)
			return m.group(0)

		regs[0] += r.random() < 0.5
		return FIELD.sub(sub, tmpl)

	def text_corpus(self, kind, nbytes, repeat=0.3):
		r = self.r
		lines = []
		size = 0
		regs = [0, 0]
		while size < nbytes:
			if len(lines) > 64 and r.random() < repeat:
				# unrolled loops and repeated blocks: a recent line again
				ln = lines[-r.randint(1, 64)]
			elif kind == "ptx":
				if r.random() < 0.12:
					regs[1] += r.random() < 0.3
					ln = "\t.loc\t1 %d %d" % (regs[1] % 400, r.choice((0, 0, 16, 23, 34, 40, 47)))
				elif r.random() < 0.03:
					ln = "$L__BB0_%d:" % r.randint(0, 60)
				elif r.random() < 0.04:
					# debug sections: long runs of .b8 bytes
					ln = "\n".join("\t.b8 %d" % r.choice((0, 0, 0, 0, 0, 0, 1, 2, 8, 17, 35, 116))
						       for _ in range(r.randint(4, 40)))
				else:
					op, args = r.choice(OPS_PTX)
					pred = "@%%p%d " % r.randint(1, 20) if r.random() < 0.15 else ""
					ln = "\t%s%s \t%s;" % (pred, op, self._fill(args, regs))
			elif kind == "llir":
				if r.random() < 0.1:
					ln = "!%d = !DILocation(line: %d, column: %d, scope: !%d)" % (
						r.randint(10, 900), r.randint(10, 400), r.randint(0, 80), r.randint(4, 9))
				else:
					ln = "  " + self._fill(r.choice(OPS_LLIR), regs)
			elif kind in ("ttir", "ttgir"):
				ln = "    " + self._fill(r.choice(OPS_MLIR), regs)
			else:	# py
				ln = self._fill(r.choice(PY_LINES), regs)
			if regs[0] > 400:
				regs[0] = r.randint(0, 40)
			lines.append(ln)
			size += len(ln) + 1
		return ("\n".join(lines) + "\n").encode()

	# ---- binary corpora -----------------------------------------------

	def bin_corpus(self, nbytes, random_share):
		"""SASS-like: 16-byte words from a vocabulary, register bytes
		randomised, runs of zeros (section padding), random blocks
		(constant banks, relocations)."""
		r = self.r
		vocab = [r.randbytes(6) + bytes(2) + r.choice(CTRL) for _ in range(384)]
		out = []
		size = 0
		while size < nbytes:
			x = r.random()
			if x < random_share:
				n = r.randint(64, 2048)
				out.append(r.randbytes(n))
			elif x < random_share + 0.04:
				n = r.choice((16, 32, 64, 128, 256, 512))
				out.append(bytes(n))
			else:
				n = 0
				words = r.choices(vocab, k=r.randint(16, 128))
				regs = r.randbytes(2 * len(words))
				for i, w in enumerate(words):
					out.append(w[:2] + regs[2 * i:2 * i + 2] + w[4:])
				n = 16 * len(words)
			size += n
		return b"".join(out)


CTRL = [bytes.fromhex(h) for h in (
	"000fe20000000f00", "000fca0000000000", "001fe40008000000", "004fe80000000a00",
	"000fe40007ffe0ff", "002fd80000000000", "000fc60000011600", "008fe20000000000",
	"001fcc00078e00ff", "000fe200000001ff", "000fe400078ec0ff", "004fda0003f06270")]


def _slices(r, corpus, n, text):
	"""n bytes of the corpus, as chunks at random offsets."""
	out = []
	left = n
	clen = len(corpus)
	while left > 0:
		k = min(left, r.randint(8 << 10, 128 << 10))
		k = min(k, clen)
		off = r.randint(0, clen - k)
		if text and off:
			nl = corpus.find(b"\n", off, off + 256)
			if nl >= 0 and nl + 1 + k <= clen:
				off = nl + 1
		out.append(corpus[off:off + k])
		left -= k
	return b"".join(out)


class Tree:
	def __init__(self, gen, out):
		self.g = gen
		self.out = out
		self.files = 0
		self.bytes = 0
		self.sizes = []
		self.dirs = set()

	def write(self, rel, data):
		path = os.path.join(self.out, rel)
		d = os.path.dirname(path)
		if d not in self.dirs:
			os.makedirs(d, exist_ok=True)
			self.dirs.add(d)
		with open(path, "wb") as f:
			f.write(data)
		os.utime(path, (FIXED_MTIME, FIXED_MTIME))
		self.files += 1
		self.bytes += len(data)
		self.sizes.append(len(data))


def spread(weights, budget, cap=KCAP):
	"""Scale weights to sum to budget, no item over cap (big templates and
	graphs, not tens of MB: only the big .so is that large)."""
	w = [min(cap, x) for x in weights]
	for _ in range(6):
		capped = sum(x for x in w if x >= cap)
		free = sum(x for x in w if x < cap)
		f = max(0.01, (budget - capped) / max(1, free))
		w = [x if x >= cap else min(cap, x * f) for x in w]
	return [int(x) for x in w]


def generate(size, seed, out):
	"""Write the tree for `size` under `out` (created; must not exist or be
	empty).  Returns stats as a dict."""
	if size == "cpu":
		return generate_cpu(seed, out)
	t0 = time.perf_counter()
	total, nfiles = SIZES[size]
	g = Gen(seed)
	r = g.r
	# lz4 -1 ratios of these corpora: ptx ~4.3, the others ~4.8
	cor = {k: g.text_corpus(k, n, rep) for k, n, rep in (
		("ptx", 4 * MB, 0.55), ("llir", 3 * MB, 0.35), ("ttir", 1 * MB, 0.35),
		("ttgir", 1 * MB, 0.35), ("py", 2 * MB, 0.35))}
	cubin = g.bin_corpus(8 * MB, 0.10)
	sobin = g.bin_corpus(8 * MB, 0.14)
	tr = Tree(g, out)
	os.makedirs(out, exist_ok=True)

	def text(kind, n, header):
		h = header.encode()
		return h + _slices(r, cor[kind], max(0, n - len(h)), True)

	# Budget: ~10% in one big .so (capped at 64 MB), ~8% in a few small
	# .so/.cpp, ~18% in aotautograd/fxgraph pickles, the rest in kernels.
	big_so = min(total // 10, 64 * MB)
	small_so = int(total * 0.08)
	pickles = int(total * 0.18)
	n_kernels = int(nfiles * 0.92 / 8)
	kernel_budget = total - big_so - small_so - pickles
	# Per-kernel medians (bytes) and the spread of a log-normal.
	med = {"cubin": 20000, "ptx": 34000, "llir": 28000, "ttgir": 12000,
	       "ttir": 9000, "json": 1900, "grp": 420, "py": 8000}
	sig = {"cubin": 1.7, "ptx": 1.7, "llir": 1.6, "ttgir": 1.2,
	       "ttir": 1.2, "json": 0.15, "grp": 0.1, "py": 0.6}
	plan = []
	for _ in range(n_kernels):
		plan.append({k: g.lognormal(med[k], sig[k], 200) for k in med})
	# Scale the big kinds so kernels fill their budget; the small ones
	# (json, grp, py) stay as drawn, which keeps the median put.
	big = ("cubin", "ptx", "llir", "ttgir", "ttir")
	budget = kernel_budget - sum(p[k] for p in plan for k in med if k not in big)
	cells = [(p, k) for p in plan for k in big]
	for (p, k), n in zip(cells, spread([p[k] for p, k in cells], budget)):
		p[k] = n

	for p in plan:
		name = g.kernel_name()
		kh = g.b32(52)
		d = "triton/0/%s/" % kh
		ph = g.b32(52)
		src = "/tmp/torchinductor_root/%s/c%s.py" % (ph[:2], ph)
		tr.write(d + name + ".ptx", text("ptx", p["ptx"],
			"//\n// Generated by LLVM NVPTX Back-End\n//\n\n.version 8.4\n.target sm_90a\n"
			".address_size 64\n\n\t// .globl\t%s\n.visible .entry %s(\n"
			"\t.param .u64 %s_param_0,\n\t.param .u64 %s_param_1,\n\t.param .u32 %s_param_2\n)\n"
			".maxntid %d, 1, 1\n{\n" % (name, name, name, name, name, r.choice((128, 256)))))
		tr.write(d + name + ".llir", text("llir", p["llir"],
			"; ModuleID = 'LLVMDialectModule'\nsource_filename = \"LLVMDialectModule\"\n"
			"target datalayout = \"e-i64:64-i128:128-v16:16-v32:32-n16:32:64\"\n\n"
			"define void @%s(ptr addrspace(1) %%0, ptr addrspace(1) %%1, i32 %%2) "
			"local_unnamed_addr !dbg !7 {\n" % name))
		hdr = "#loc = loc(\"%s\":%d:0)\nmodule attributes {\"ttg.num-ctas\" = 1 : i32, " \
		      "\"ttg.num-warps\" = %d : i32} {\n  tt.func public @%s(%%arg0: !tt.ptr<f32> " \
		      "{tt.divisibility = 16 : i32} loc(\"%s\":%d:0)) attributes {noinline = false} {\n" % (
			      src, r.randint(10, 30), r.choice((4, 8)), name, src, r.randint(10, 30))
		tr.write(d + name + ".ttir", text("ttir", p["ttir"], hdr))
		tr.write(d + name + ".ttgir", text("ttgir", p["ttgir"],
			"#blocked = #ttg.blocked<{sizePerThread = [4], threadsPerWarp = [32], "
			"warpsPerCTA = [4], order = [0]}>\n" + hdr))
		# cubin: ELF header, string table, SASS, random constants.
		strtab = ("\0.shstrtab\0.strtab\0.symtab\0.symtab_shndx\0.nv.info\0.text.%s\0"
			  ".nv.info.%s\0.nv.shared.%s\0.nv.constant0.%s\0.rel.nv.constant0.%s\0"
			  ".debug_frame\0.nv.callgraph\0.nv.prototype\0%s\0" % ((name,) * 6)).encode()
		elf = (b"\x7fELF\x02\x01\x01\x33\x07" + bytes(7) + b"\x02\x00\xbe\x00\x80\x00\x00\x00"
		       + bytes(8) + r.randbytes(8) + b"\x40" + bytes(7) + b"\x5a\x0a\x5a\x00\x40\x00\x38\x00")
		body = _slices(r, cubin, max(0, p["cubin"] - len(elf) - len(strtab)), False)
		tr.write(d + name + ".cubin", elf + strtab + body)
		meta = {"hash": kh, "target": {"backend": "cuda", "arch": 90, "warp_size": 32},
			"num_warps": r.choice((2, 4, 8)), "num_ctas": 1, "num_stages": r.choice((1, 2, 3, 4)),
			"maxnreg": None, "cluster_dims": [1, 1, 1], "ptx_version": None,
			"enable_fp_fusion": True, "launch_cooperative_grid": False,
			"supported_fp8_dtypes": ["fp8e4b15", "fp8e4nv", "fp8e5"],
			"deprecated_fp8_dtypes": ["fp8e4b15"], "default_dot_input_precision": "tf32",
			"allowed_dot_input_precisions": ["tf32", "tf32x3", "ieee"],
			"max_num_imprecise_acc_default": 0, "extern_libs": [["libdevice",
			"/usr/local/lib/python3.11/site-packages/triton/backends/nvidia/lib/libdevice.10.bc"]],
			"debug": False, "backend_name": "cuda", "sanitize_overflow": True,
			"arch": "sm90", "triton_version": "3.2.0", "shared": r.choice((0, 0, 4096, 16384, 98304)),
			"tmem_size": 0, "global_scratch_size": 0, "global_scratch_align": 1,
			"name": name}
		js = json.dumps(meta).encode()
		tr.write(d + name + ".json", js)
		grp = {"child_paths": {"%s.%s" % (name, e): "/tmp/torchinductor_root/triton/0/%s/%s.%s" % (kh, name, e)
				       for e in ("json", "ttir", "ttgir", "llir", "ptx", "cubin")}}
		tr.write(d + "__grp__%s.json" % name, json.dumps(grp).encode())
		tr.write("%s/c%s.py" % (ph[:2], ph), text("py", p["py"],
			"\nimport triton\nimport triton.language as tl\n\nfrom torch._inductor.runtime import "
			"triton_helpers, triton_heuristics\nfrom torch._inductor.runtime.triton_helpers import "
			"libdevice, math as tl_math\n\n@triton_heuristics.pointwise(\n    size_hints={'x': %d},\n"
			"    filename=__file__,\n    triton_meta={'signature': {'in_ptr0': '*bf16', 'out_ptr0': "
			"'*bf16', 'xnumel': 'i32'}, 'device': DeviceProperties(type='cuda', index=0, "
			"multi_processor_count=132, cc=90, major=9, regs_per_multiprocessor=65536, "
			"max_threads_per_multi_processor=2048, warp_size=32)},\n)\n@triton.jit\n"
			"def %s(in_ptr0, out_ptr0, xnumel, XBLOCK : tl.constexpr):\n" % (
				1 << r.randint(8, 22), name)))

	# One large .so (tens of MB), a few small .so and their .cpp.
	def so_bytes(n):
		syms = "".join("_ZN5torch8inductor%d%s%sEv\0" % (len(w), w, g.hexs(8))
			       for w in (g.kernel_name() for _ in range(40))).encode()
		return syms + _slices(r, sobin, max(0, n - len(syms)), False)

	h = g.b32(52)
	tr.write("%s/c%s.so" % (h[:2], h), so_bytes(big_so))
	n_so = max(2, nfiles // 800)
	for i in range(n_so):
		h = g.b32(52)
		n = small_so // n_so
		tr.write("%s/c%s.so" % (h[:2], h), so_bytes(n * 4 // 5))
		tr.write("%s/c%s.cpp" % (h[:2], h), text("py", n // 5,
			"#include \"/tmp/torchinductor_root/pi/cpicxuxl.h\"\nextern \"C\" void kernel(const float* in_ptr0, float* out_ptr0)\n{\n"))

	# FX graph and AOT autograd caches: pickles carrying code and tensors.
	n_fx = max(4, nfiles // 35)
	n_aot = max(3, nfiles // 50)
	w = spread([g.lognormal(10000, 1.4) for _ in range(n_fx + n_aot)], pickles)
	for i, n in enumerate(w):
		n = max(300, n)
		key = g.b32(52)
		hdr = b"\x80\x04\x95" + r.randbytes(8) + b"\x8c\x1etorch._inductor.codecache\x94\x8c\x13CompiledFxGraph\x94\x93\x94)\x81\x94}\x94(\x8c\x0bsource_code\x94X"
		code = text("py", n * 7 // 10, "")
		tail = _slices(r, sobin, n - len(hdr) - len(code), False) if n > len(hdr) + len(code) else b""
		if i < n_fx:
			tr.write("fxgraph/%s/f%s/%s" % (key[1:3], key, g.b32(52)), hdr + code + tail)
		else:
			tr.write("aotautograd/a%s/%s" % (key, g.b32(52)), hdr + code + tail)

	# Lock files: empty.
	for _ in range(max(5, nfiles // 120)):
		tr.write("locks/%s.lock" % g.b32(52), b"")

	return stats(out, time.perf_counter() - t0)


def generate_cpu(seed, out, graphs=100, kernels=3):
	"""A CPU model's tree (see the module doc): GRAPHS graphs of KERNELS
	C++ kernels each.  Returns stats as a dict."""
	t0 = time.perf_counter()
	g = Gen(seed)
	r = g.r
	cor = g.text_corpus("py", 2 * MB, 0.35)
	sobin = g.bin_corpus(4 * MB, 0.14)
	tr = Tree(g, out)
	os.makedirs(out, exist_ok=True)
	cache = "/tmp/torchinductor_root"

	def so(n, name):
		# ELF with the build dir's absolute path in its strings, as g++ leaves it
		head = b"\x7fELF\x02\x01\x01" + bytes(9) + ("%s/%s/%s_CxxBuild\0%s.cpp\0" % (
			cache, name[1:3], name, name)).encode()
		return head + _slices(r, sobin, max(0, n - len(head)), False)

	def py(n, header=""):
		h = header.encode()
		return h + _slices(r, cor, max(0, n - len(h)), True)

	def lock(name):
		tr.write("locks/%s.lock" % name, b"")

	for i in range(6):	# the ISA probes (avx512, amx, ...): tiny sources
		h = "c" + g.b32(51)
		tr.write("%s/%s.cpp" % (h[1:3], h), py(330, "\n#include <cstdint>\n#include <immintrin.h>\n"))
		tr.write("%s/%s.so" % (h[1:3], h), so(g.lognormal(19000, 0.05, 15000), h))
		lock(h)
	for _ in range(graphs):
		for _ in range(kernels):
			h = "c" + g.b32(51)
			tr.write("%s/%s.main.cpp" % (h[1:3], h), py(g.lognormal(8000, 0.5, 1500),
				"\n#include <torch/csrc/inductor/cpp_prefix.h>\nextern \"C\"  void  kernel("))
			tr.write("%s/%s.main.so" % (h[1:3], h), so(g.lognormal(62000, 0.2, 20000), h))
			lock(h)
		h = "c" + g.b32(51)
		tr.write("%s/%s.py" % (h[1:3], h), py(g.lognormal(22000, 0.4, 4000),
			"# AOT ID: ['0_inference']\nfrom ctypes import c_void_p, c_long, c_int\nimport torch\n"))
		key = g.b32(51)
		# the entries hold the output code, the cache dir's path among it
		hdr = b"\x80\x04\x95" + r.randbytes(8) + (
			"\x8c\x1etorch._inductor.codecache\x94os.environ['TORCHINDUCTOR_CACHE_DIR'] = '%s'\n"
			% cache).encode()
		tr.write("fxgraph/%s/f%s/%s" % (key[:2], key, g.b32(52)),
			 hdr + py(g.lognormal(118000, 0.1, 30000)))
		tr.write("aotautograd/a%s/%s" % (g.b32(51), g.b32(52)),
			 hdr + _slices(r, sobin, 20000, False) + py(g.lognormal(70000, 0.1, 20000)))
	return stats(out, time.perf_counter() - t0)


def stats(root, seconds=None):
	"""File count, directory count, total bytes and size percentiles of a tree."""
	sizes = []
	dirs = 0
	for dp, dn, fn in os.walk(root):
		dirs += len(dn)
		for f in fn:
			sizes.append(os.lstat(os.path.join(dp, f)).st_size)
	sizes.sort()
	n = len(sizes)
	s = {"files": n, "dirs": dirs, "bytes": sum(sizes),
	     "median": int(statistics.median(sizes)) if n else 0,
	     "p90": sizes[int(n * 0.9)] if n else 0,
	     "max": sizes[-1] if n else 0}
	if seconds is not None:
		s["gen_seconds"] = round(seconds, 2)
	return s


def describe(s):
	return "%d files, %d dirs, %.1f MiB, median %.1f KiB, p90 %.0f KiB, max %.1f MiB" % (
		s["files"], s["dirs"], s["bytes"] / MB, s["median"] / 1024, s["p90"] / 1024, s["max"] / MB)


def main():
	ap = argparse.ArgumentParser(description="Generate a TorchInductor-like cache tree.")
	ap.add_argument("--size", choices=sorted(SIZES), default="medium")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--out", required=True, help="directory to create (must be empty or missing)")
	ap.add_argument("--json", action="store_true", help="print the statistics as JSON")
	a = ap.parse_args()
	if os.path.exists(a.out) and os.listdir(a.out):
		sys.exit("gen_tree: %s: not empty" % a.out)
	s = generate(a.size, a.seed, a.out)
	print(json.dumps(s) if a.json else "%s: %s (%.1f s)" % (a.out, describe(s), s["gen_seconds"]))


if __name__ == "__main__":
	main()
