//! One chemprop 2 MPNN (bond message passing, norm aggregation, FFN) read from
//! a checkpoint, and its batched forward pass.

use crate::featurize::{BatchGraph, ATOM_FDIM, BOND_FDIM, EDGE_IN};
use crate::torch::{Checkpoint, TorchError, Value};

/// Weights of one model. Matrices are row-major `[out × in]` as torch stores them.
pub struct Mpnn {
    pub d_h: usize,
    pub depth: usize,
    pub norm: f32,
    w_i: Vec<f32>,
    w_h: Vec<f32>,
    w_o: Vec<f32>,
    b_o: Vec<f32>,
    w_1: Vec<f32>,
    b_1: Vec<f32>,
    w_2: Vec<f32>,
    b_2: Vec<f32>,
    pub n_tasks: usize,
    /// Regression: outputs are `y * scale + mean`.
    unscale: Option<(Vec<f32>, Vec<f32>)>,
    /// Classification: outputs go through a sigmoid.
    pub classification: bool,
    pub output_columns: Vec<String>,
}

fn hp_int(hp: &Value, section: &str, key: &str) -> Option<i64> {
    match hp.get(section)?.get(key)? {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

impl Mpnn {
    pub fn from_checkpoint(bytes: &[u8]) -> Result<Mpnn, TorchError> {
        let ck = Checkpoint::parse(bytes)?;
        let root = &ck.root;
        let sd = root.get("state_dict").ok_or_else(|| TorchError("checkpoint has no state_dict".into()))?;
        let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>, TorchError> {
            match sd.get(name) {
                Some(Value::Tensor(t)) => {
                    if t.shape != shape {
                        return Err(TorchError(format!("{name} has shape {:?}, expected {shape:?}", t.shape)));
                    }
                    ck.tensor_f32(t)
                }
                _ => Err(TorchError(format!("state_dict has no tensor {name}"))),
            }
        };
        let hp = root.get("hyper_parameters").ok_or_else(|| TorchError("checkpoint has no hyper_parameters".into()))?;
        let d_h = hp_int(hp, "message_passing", "d_h").unwrap_or(300) as usize;
        let depth = hp_int(hp, "message_passing", "depth").unwrap_or(3) as usize;
        let d_v = hp_int(hp, "message_passing", "d_v").unwrap_or(72) as usize;
        let d_e = hp_int(hp, "message_passing", "d_e").unwrap_or(14) as usize;
        let d_vd = hp_int(hp, "message_passing", "d_vd").unwrap_or(0);
        if d_v != ATOM_FDIM || d_v + d_e != EDGE_IN || d_vd != 0 {
            return Err(TorchError(format!(
                "model expects atom/bond features of width {d_v}/{d_e} (+{d_vd} extra); this reader implements chemprop's default 72/14"
            )));
        }
        let norm = hp_int(hp, "agg", "norm").unwrap_or(100) as f32;
        let n_tasks = hp_int(hp, "predictor", "n_tasks").ok_or_else(|| TorchError("no predictor.n_tasks".into()))? as usize;
        let n_layers = hp_int(hp, "predictor", "n_layers").unwrap_or(1);
        if n_layers != 1 {
            return Err(TorchError(format!("FFN with {n_layers} hidden layers; this reader implements 1")));
        }
        let batch_norm = matches!(hp.get("batch_norm"), Some(Value::Bool(true)));
        if batch_norm {
            return Err(TorchError("model uses batch norm, which this reader does not implement".into()));
        }
        let predictor_class = match hp.get("predictor").and_then(|p| p.get("cls")) {
            Some(Value::Global(m, n)) => format!("{m}.{n}"),
            _ => String::new(),
        };
        let classification = predictor_class.contains("BinaryClassification");
        let regression = predictor_class.contains("Regression");
        if !classification && !regression {
            return Err(TorchError(format!("unsupported predictor {predictor_class:?}")));
        }
        let vector = |name: &str| -> Result<Vec<f32>, TorchError> {
            match sd.get(name) {
                Some(Value::Tensor(t)) if t.shape.iter().product::<usize>() == n_tasks => ck.tensor_f32(t),
                Some(Value::Tensor(t)) => Err(TorchError(format!("{name} has shape {:?}, expected {n_tasks} values", t.shape))),
                _ => Err(TorchError(format!("state_dict has no tensor {name}"))),
            }
        };
        let unscale = if regression { Some((vector("predictor.output_transform.mean")?, vector("predictor.output_transform.scale")?)) } else { None };
        let output_columns: Vec<String> = root
            .get("output_columns")
            .and_then(Value::list_items)
            .ok_or_else(|| TorchError("checkpoint has no output_columns".into()))?
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| TorchError("bad output column".into())))
            .collect::<Result<_, _>>()?;
        if output_columns.len() != n_tasks {
            return Err(TorchError(format!("{} output columns for {n_tasks} tasks", output_columns.len())));
        }
        Ok(Mpnn {
            d_h,
            depth,
            norm,
            w_i: tensor("message_passing.W_i.weight", &[d_h, EDGE_IN])?,
            w_h: tensor("message_passing.W_h.weight", &[d_h, d_h])?,
            w_o: tensor("message_passing.W_o.weight", &[d_h, ATOM_FDIM + d_h])?,
            b_o: tensor("message_passing.W_o.bias", &[d_h])?,
            w_1: tensor("predictor.ffn.0.0.weight", &[d_h, d_h])?,
            b_1: tensor("predictor.ffn.0.0.bias", &[d_h])?,
            w_2: tensor("predictor.ffn.1.2.weight", &[n_tasks, d_h])?,
            b_2: tensor("predictor.ffn.1.2.bias", &[n_tasks])?,
            n_tasks,
            unscale,
            classification,
            output_columns,
        })
    }

    /// Predictions for every molecule of `g`, `[n_mols × n_tasks]`, added to
    /// `out` (the ensemble divides the sum by its size, as torch's mean does).
    pub fn forward_accumulate(&self, g: &BatchGraph, ws: &mut Workspace, out: &mut [f32]) {
        // The element-wise passes between the products (a third of the time
        // that is not GEMM) compiled for the widest vectors the CPU has:
        // the baseline build's are 4 floats wide. Each element's arithmetic
        // is the same whatever the width, so the results are the same bits.
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the features the function is built for.
                return unsafe { self.forward_avx512(g, ws, out) };
            }
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { self.forward_avx2(g, ws, out) };
            }
        }
        self.forward(g, ws, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(&self, g: &BatchGraph, ws: &mut Workspace, out: &mut [f32]) {
        self.forward(g, ws, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_avx2(&self, g: &BatchGraph, ws: &mut Workspace, out: &mut [f32]) {
        self.forward(g, ws, out)
    }

    #[inline(always)]
    fn forward(&self, g: &BatchGraph, ws: &mut Workspace, out: &mut [f32]) {
        let d = self.d_h;
        let (na, ne, nm) = (g.n_atoms(), g.n_edges(), g.n_mols);
        debug_assert_eq!(out.len(), nm * self.n_tasks);
        ws.h.resize(ne * d, 0.0);
        ws.a.resize(na * d, 0.0);
        ws.o.resize(na * d, 0.0);
        ws.mol.resize(nm * d, 0.0);
        ws.f1.resize(nm * d, 0.0);
        // H0 = X_e · W_iᵀ, where an edge's row X_e is its source atom's
        // features then its bond's: per kind of atom (V · W_i[:, atom]ᵀ) and
        // per bond (B · W_i[:, bond]ᵀ), then each edge adds its atom's and its
        // bond's rows, a small part of the work of one product per edge.
        let (nk, nb) = (g.n_kinds(), ne / 2);
        ws.k_in.resize(nk * d, 0.0);
        ws.b_in.resize(nb * d, 0.0);
        gemm_nt(nk, ATOM_FDIM, d, &g.kinds, ATOM_FDIM, &self.w_i, EDGE_IN, 0.0, &mut ws.k_in, d);
        gemm_nt(nb, BOND_FDIM, d, &g.bonds, BOND_FDIM, &self.w_i[ATOM_FDIM..], EDGE_IN, 0.0, &mut ws.b_in, d);
        // H = relu(H0), and A[v] = Σ H[e] over the edges e into v, in one
        // pass; H0 is not kept: its rows are two small tables' rows added.
        ws.a.fill(0.0);
        for e in 0..ne {
            let t = g.dst[e] as usize;
            let (x_a, x_b) = h0_terms(g, &ws.k_in, &ws.b_in, e, d);
            let (h, a) = (&mut ws.h[e * d..(e + 1) * d], &mut ws.a[t * d..(t + 1) * d]);
            for j in 0..d {
                let r = (x_a[j] + x_b[j]).max(0.0);
                h[j] = r;
                a[j] += r;
            }
        }
        // Each step of message passing goes a block of edges at a time, so
        // that a block's messages are still in cache when the product reads
        // them, and its product when it is rectified and summed: M (a block
        // only), then H = relu(H0 + M · W_hᵀ), then the new A. The sums are
        // the same, in the same order, as whole-matrix passes.
        let block = EDGE_BLOCK.min(ne.max(2));
        ws.m.resize(block * d, 0.0);
        ws.a_next.resize(na * d, 0.0);
        for _ in 1..self.depth {
            ws.a_next.fill(0.0);
            for from in (0..ne).step_by(block) {
                let to = (from + block).min(ne);
                // M[e] = A[source of e] - H[reverse of e] (the reverse of an
                // edge is its neighbour in the block: blocks start even).
                for e in from..to {
                    let s = g.src[e] as usize;
                    let r = e ^ 1;
                    let (row, a_row, h_rev) = (&mut ws.m[(e - from) * d..(e - from + 1) * d], &ws.a[s * d..(s + 1) * d], &ws.h[r * d..(r + 1) * d]);
                    for k in 0..d {
                        row[k] = a_row[k] - h_rev[k];
                    }
                }
                gemm_nt(to - from, d, d, &ws.m, d, &self.w_h, d, 0.0, &mut ws.h[from * d..to * d], d);
                for e in from..to {
                    let t = g.dst[e] as usize;
                    let (x_a, x_b) = h0_terms(g, &ws.k_in, &ws.b_in, e, d);
                    let (h, a) = (&mut ws.h[e * d..(e + 1) * d], &mut ws.a_next[t * d..(t + 1) * d]);
                    for k in 0..d {
                        // H0[e], recomputed: the same sum as when first made.
                        let r = (h[k] + (x_a[k] + x_b[k])).max(0.0);
                        h[k] = r;
                        a[k] += r;
                    }
                }
            }
            std::mem::swap(&mut ws.a, &mut ws.a_next);
        }
        // O = relu([V ‖ A] · W_oᵀ + b): the V block per kind of atom (with the
        // bias), gathered per atom, then A's block accumulated.
        let ld_o = ATOM_FDIM + d;
        ws.k_o.resize(nk * d, 0.0);
        for row in ws.k_o.chunks_exact_mut(d) {
            row.copy_from_slice(&self.b_o);
        }
        gemm_nt(nk, ATOM_FDIM, d, &g.kinds, ATOM_FDIM, &self.w_o, ld_o, 1.0, &mut ws.k_o, d);
        for (row, &k) in ws.o.chunks_exact_mut(d).zip(&g.atom_kind) {
            row.copy_from_slice(&ws.k_o[k as usize * d..(k as usize + 1) * d]);
        }
        gemm_nt(na, d, d, &ws.a, d, &self.w_o[ATOM_FDIM..], ld_o, 1.0, &mut ws.o, d);
        ws.mol.fill(0.0);
        let inv = 1.0 / self.norm;
        for (i, row) in ws.o.chunks_exact(d).enumerate() {
            let m = g.atom_mol[i] as usize;
            let dst = &mut ws.mol[m * d..(m + 1) * d];
            for k in 0..d {
                dst[k] += row[k].max(0.0);
            }
        }
        for x in ws.mol.iter_mut() {
            *x *= inv;
        }
        // FFN
        for row in ws.f1.chunks_exact_mut(d) {
            row.copy_from_slice(&self.b_1);
        }
        gemm_nt(nm, d, d, &ws.mol, d, &self.w_1, d, 1.0, &mut ws.f1, d);
        for x in ws.f1.iter_mut() {
            *x = x.max(0.0);
        }
        let t = self.n_tasks;
        ws.f2.resize(nm * t, 0.0);
        for row in ws.f2.chunks_exact_mut(t) {
            row.copy_from_slice(&self.b_2);
        }
        gemm_nt(nm, d, t, &ws.f1, d, &self.w_2, d, 1.0, &mut ws.f2, t);
        for (i, (o, &y)) in out.iter_mut().zip(&ws.f2).enumerate() {
            let v = if self.classification {
                1.0 / (1.0 + (-y).exp())
            } else if let Some((mean, scale)) = &self.unscale {
                let k = i % t;
                y * scale[k] + mean[k]
            } else {
                y
            };
            *o += v;
        }
    }
}

/// Edges per block of message passing (even: an edge and its reverse are
/// neighbours). A block's messages, products and states, ~0.3 MB each, stay
/// in a core's L2 cache between the passes over them.
pub const EDGE_BLOCK: usize = 256;
const _: () = assert!(EDGE_BLOCK.is_multiple_of(2), "an edge and its reverse must share a block");

/// Scratch buffers reused across models and batches.
#[derive(Default)]
pub struct Workspace {
    k_in: Vec<f32>,
    k_o: Vec<f32>,
    b_in: Vec<f32>,
    h: Vec<f32>,
    m: Vec<f32>,
    a: Vec<f32>,
    a_next: Vec<f32>,
    o: Vec<f32>,
    mol: Vec<f32>,
    f1: Vec<f32>,
    f2: Vec<f32>,
}

/// The two rows whose sum is edge `e`'s row of H0 = X_e · W_iᵀ: its source
/// atom's kind's (of `k_in`) and its bond's (of `b_in`).
#[inline(always)]
fn h0_terms<'w>(g: &BatchGraph, k_in: &'w [f32], b_in: &'w [f32], e: usize, d: usize) -> (&'w [f32], &'w [f32]) {
    let (k, b) = (g.atom_kind[g.src[e] as usize] as usize, e / 2);
    (&k_in[k * d..(k + 1) * d], &b_in[b * d..(b + 1) * d])
}

/// C[m×n] = A[m×k] · B[n×k]ᵀ + beta·C, with row strides `lda`, `ldb`, `ldc`
/// (`beta` is 0 or 1).
#[allow(clippy::too_many_arguments)]
fn gemm_nt(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, beta: f32, c: &mut [f32], ldc: usize) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.len() >= (m - 1) * lda + k);
    assert!(b.len() >= (n - 1) * ldb + k);
    assert!(c.len() >= (m - 1) * ldc + n);
    debug_assert!(beta == 0.0 || beta == 1.0);
    // gemm's dst = alpha·dst + beta·lhs·rhs, dst read only when asked; Bᵀ is
    // B read with its strides swapped.
    // SAFETY: the asserts above bound every index the kernel touches.
    unsafe {
        gemm_f32::gemm::f32::get_gemm_fn()(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            beta != 0.0,
            a.as_ptr(),
            1,
            lda as isize,
            b.as_ptr(),
            ldb as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm_common::Parallelism::None,
        );
    }
}
