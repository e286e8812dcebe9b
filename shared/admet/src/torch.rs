//! A small reader for `torch.save` checkpoints (zip archive + pickle), enough
//! for chemprop's `.pt` files: no torch needed.
//!
//! * The zip layer reads the central directory and accepts only *stored*
//!   (uncompressed) entries, which is what `torch.save` writes.
//! * The unpickler implements the opcodes protocol 2 pickles use; classes are
//!   kept as opaque [`Value::Object`]s, except `torch._utils._rebuild_tensor_v2`
//!   calls, which become [`Value::Tensor`] references to a storage entry.

use std::collections::HashMap;
use std::fmt;

#[derive(Debug)]
pub struct TorchError(pub String);

impl fmt::Display for TorchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TorchError {}

fn err<T>(msg: impl Into<String>) -> Result<T, TorchError> {
    Err(TorchError(msg.into()))
}

/// The entries of a zip archive (name -> byte range of the stored data).
pub struct ZipArchive<'a> {
    data: &'a [u8],
    entries: HashMap<String, (usize, usize)>,
}

fn u16_at(d: &[u8], o: usize) -> Result<usize, TorchError> {
    d.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).ok_or_else(|| TorchError("truncated zip archive".into()))
}

fn u32_at(d: &[u8], o: usize) -> Result<usize, TorchError> {
    d.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(|| TorchError("truncated zip archive".into()))
}

impl<'a> ZipArchive<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, TorchError> {
        // End of central directory: the last "PK\x05\x06" within the final 64 KiB + 22 bytes.
        let start = data.len().saturating_sub(22 + 65_535);
        let eocd = (start..data.len().saturating_sub(21))
            .rev()
            .find(|&i| data[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
            .ok_or_else(|| TorchError("not a zip archive (no end-of-central-directory record)".into()))?;
        let count = u16_at(data, eocd + 10)?;
        let mut off = u32_at(data, eocd + 16)?;
        let mut entries = HashMap::new();
        for _ in 0..count {
            if u32_at(data, off)? != 0x0201_4b50 {
                return err("corrupt zip central directory");
            }
            let method = u16_at(data, off + 10)?;
            let csize = u32_at(data, off + 20)?;
            let usize_ = u32_at(data, off + 24)?;
            let nlen = u16_at(data, off + 28)?;
            let elen = u16_at(data, off + 30)?;
            let clen = u16_at(data, off + 32)?;
            let local = u32_at(data, off + 42)?;
            let name = String::from_utf8_lossy(data.get(off + 46..off + 46 + nlen).ok_or_else(|| TorchError("truncated zip".into()))?).into_owned();
            if method != 0 || csize != usize_ {
                return err(format!("zip entry {name} is compressed (method {method}); torch.save writes stored entries"));
            }
            if csize == 0xFFFF_FFFF {
                return err(format!("zip entry {name} uses zip64, which this reader does not support"));
            }
            if u32_at(data, local)? != 0x0403_4b50 {
                return err(format!("corrupt local header for zip entry {name}"));
            }
            let body = local + 30 + u16_at(data, local + 26)? + u16_at(data, local + 28)?;
            if body + csize > data.len() {
                return err(format!("zip entry {name} is truncated"));
            }
            entries.insert(name, (body, csize));
            off += 46 + nlen + elen + clen;
        }
        Ok(ZipArchive { data, entries })
    }

    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.entries.get(name).map(|&(o, n)| &self.data[o..o + n])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// A pickled value.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    /// An instance of a class we don't interpret (dict items / list items /
    /// BUILD state kept, in case a caller wants them).
    Object {
        class: String,
        args: Vec<Value>,
        items: Vec<(Value, Value)>,
        list: Vec<Value>,
        state: Option<Box<Value>>,
    },
    PersId(Box<Value>),
    Tensor(TensorRef),
}

#[derive(Debug, Clone)]
pub struct TensorRef {
    pub storage_key: String,
    pub dtype: String,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Items of a dict or of a dict-like object (OrderedDict, AttributeDict).
    pub fn dict_items(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(items) => Some(items),
            Value::Object { items, .. } => Some(items),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.dict_items()?.iter().rev().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    pub fn list_items(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            Value::Object { list, .. } => Some(list),
            _ => None,
        }
    }

    fn as_usize(&self) -> Option<usize> {
        match self {
            Value::Int(i) if *i >= 0 => Some(*i as usize),
            _ => None,
        }
    }
}

/// Unpickles `data` (protocols 2–4 subset).
pub fn unpickle(data: &[u8]) -> Result<Value, TorchError> {
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], TorchError> {
        let s = data.get(*pos..*pos + n).ok_or_else(|| TorchError("truncated pickle".into()))?;
        *pos += n;
        Ok(s)
    };
    let pop = |stack: &mut Vec<Value>| stack.pop().ok_or_else(|| TorchError("pickle stack underflow".into()));
    let pop_mark = |stack: &mut Vec<Value>, marks: &mut Vec<usize>| -> Result<Vec<Value>, TorchError> {
        let m = marks.pop().ok_or_else(|| TorchError("pickle mark underflow".into()))?;
        if m > stack.len() {
            return err("pickle mark beyond stack");
        }
        Ok(stack.split_off(m))
    };
    loop {
        let op = *data.get(pos).ok_or_else(|| TorchError("pickle ended without STOP".into()))?;
        pos += 1;
        match op {
            0x80 => {
                take(&mut pos, 1)?;
            } // PROTO
            0x95 => {
                take(&mut pos, 8)?;
            } // FRAME
            b'.' => return pop(&mut stack),
            b'(' => marks.push(stack.len()),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'K' => {
                let b = take(&mut pos, 1)?[0];
                stack.push(Value::Int(b as i64))
            }
            b'M' => {
                let b = take(&mut pos, 2)?;
                stack.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
            }
            b'J' => {
                let b = take(&mut pos, 4)?;
                stack.push(Value::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64))
            }
            0x8a => {
                // LONG1
                let n = take(&mut pos, 1)?[0] as usize;
                let b = take(&mut pos, n)?;
                if n > 8 {
                    return err("pickle LONG1 too large");
                }
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate() {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v))
            }
            b'G' => {
                let b = take(&mut pos, 8)?;
                stack.push(Value::Float(f64::from_be_bytes(b.try_into().unwrap())))
            }
            b'X' => {
                let n = u32_at(data, pos)?;
                pos += 4;
                let s = take(&mut pos, n)?;
                stack.push(Value::Str(String::from_utf8_lossy(s).into_owned()))
            }
            0x8c => {
                // SHORT_BINUNICODE
                let n = take(&mut pos, 1)?[0] as usize;
                let s = take(&mut pos, n)?;
                stack.push(Value::Str(String::from_utf8_lossy(s).into_owned()))
            }
            b'C' => {
                let n = take(&mut pos, 1)?[0] as usize;
                stack.push(Value::Bytes(take(&mut pos, n)?.to_vec()))
            }
            b'B' => {
                let n = u32_at(data, pos)?;
                pos += 4;
                stack.push(Value::Bytes(take(&mut pos, n)?.to_vec()))
            }
            b'c' => {
                let rest = &data[pos..];
                let nl1 = rest.iter().position(|&c| c == b'\n').ok_or_else(|| TorchError("bad GLOBAL".into()))?;
                let module = String::from_utf8_lossy(&rest[..nl1]).into_owned();
                let rest2 = &rest[nl1 + 1..];
                let nl2 = rest2.iter().position(|&c| c == b'\n').ok_or_else(|| TorchError("bad GLOBAL".into()))?;
                let name = String::from_utf8_lossy(&rest2[..nl2]).into_owned();
                pos += nl1 + 1 + nl2 + 1;
                stack.push(Value::Global(module, name))
            }
            0x93 => {
                // STACK_GLOBAL
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                stack.push(Value::Global(module.as_str().unwrap_or_default().to_owned(), name.as_str().unwrap_or_default().to_owned()))
            }
            b'q' => {
                let k = take(&mut pos, 1)?[0] as u32;
                memo.insert(k, stack.last().cloned().ok_or_else(|| TorchError("BINPUT on empty stack".into()))?);
            }
            b'r' => {
                let k = u32_at(data, pos)? as u32;
                pos += 4;
                memo.insert(k, stack.last().cloned().ok_or_else(|| TorchError("LONG_BINPUT on empty stack".into()))?);
            }
            0x94 => {
                let k = memo.len() as u32;
                memo.insert(k, stack.last().cloned().ok_or_else(|| TorchError("MEMOIZE on empty stack".into()))?);
            }
            b'h' => {
                let k = take(&mut pos, 1)?[0] as u32;
                stack.push(memo.get(&k).cloned().ok_or_else(|| TorchError(format!("pickle memo {k} missing")))?)
            }
            b'j' => {
                let k = u32_at(data, pos)? as u32;
                pos += 4;
                stack.push(memo.get(&k).cloned().ok_or_else(|| TorchError(format!("pickle memo {k} missing")))?)
            }
            b't' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(Value::Tuple(items))
            }
            0x85 => {
                let a = pop(&mut stack)?;
                stack.push(Value::Tuple(vec![a]))
            }
            0x86 => {
                let b = pop(&mut stack)?;
                let a = pop(&mut stack)?;
                stack.push(Value::Tuple(vec![a, b]))
            }
            0x87 => {
                let c = pop(&mut stack)?;
                let b = pop(&mut stack)?;
                let a = pop(&mut stack)?;
                stack.push(Value::Tuple(vec![a, b, c]))
            }
            b'l' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(Value::List(items))
            }
            b'd' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let mut pairs = Vec::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                stack.push(Value::Dict(pairs))
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::List(l)) | Some(Value::Object { list: l, .. }) => l.push(v),
                    _ => return err("APPEND to a non-list"),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                match stack.last_mut() {
                    Some(Value::List(l)) | Some(Value::Object { list: l, .. }) => l.extend(items),
                    _ => return err("APPENDS to a non-list"),
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::Dict(d)) | Some(Value::Object { items: d, .. }) => d.push((k, v)),
                    _ => return err("SETITEM on a non-dict"),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                let mut pairs = Vec::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                match stack.last_mut() {
                    Some(Value::Dict(d)) | Some(Value::Object { items: d, .. }) => d.extend(pairs),
                    _ => return err("SETITEMS on a non-dict"),
                }
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(Value::PersId(Box::new(pid)))
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let args = match args {
                    Value::Tuple(a) => a,
                    other => vec![other],
                };
                stack.push(call(callable, args)?)
            }
            b'b' => {
                let state = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::Object { state: s, .. }) => *s = Some(Box::new(state)),
                    Some(Value::Tensor(_)) => {}
                    _ => return err("BUILD on a non-object"),
                }
            }
            other => return err(format!("unsupported pickle opcode 0x{other:02x} at byte {}", pos - 1)),
        }
    }
}

fn call(callable: Value, args: Vec<Value>) -> Result<Value, TorchError> {
    let class = match &callable {
        Value::Global(m, n) => format!("{m}.{n}"),
        other => return err(format!("pickle calls a non-class {other:?}")),
    };
    match class.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let pid = match args.first() {
                Some(Value::PersId(p)) => p,
                _ => return err("tensor rebuild without a storage"),
            };
            let pid = pid.list_items().ok_or_else(|| TorchError("bad storage id".into()))?;
            let dtype = match pid.get(1) {
                Some(Value::Global(_, n)) => n.clone(),
                _ => return err("bad storage type"),
            };
            let storage_key = pid.get(2).and_then(Value::as_str).ok_or_else(|| TorchError("bad storage key".into()))?;
            let offset = args.get(1).and_then(Value::as_usize).unwrap_or(0);
            let dims = |v: Option<&Value>| -> Result<Vec<usize>, TorchError> {
                v.and_then(Value::list_items)
                    .ok_or_else(|| TorchError("bad tensor shape".into()))?
                    .iter()
                    .map(|x| x.as_usize().ok_or_else(|| TorchError("bad tensor dim".into())))
                    .collect()
            };
            Ok(Value::Tensor(TensorRef { storage_key: storage_key.to_owned(), dtype, offset, shape: dims(args.get(2))?, stride: dims(args.get(3))? }))
        }
        _ => Ok(Value::Object { class, args, items: Vec::new(), list: Vec::new(), state: None }),
    }
}

/// A loaded checkpoint: its pickled root and the archive's storages.
pub struct Checkpoint<'a> {
    pub root: Value,
    zip: ZipArchive<'a>,
    prefix: String,
}

impl<'a> Checkpoint<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TorchError> {
        let zip = ZipArchive::new(bytes)?;
        let pkl = zip
            .names()
            .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .ok_or_else(|| TorchError("no data.pkl in the archive (not a torch.save file)".into()))?
            .to_owned();
        let prefix = pkl.trim_end_matches("data.pkl").to_owned();
        if let Some(b) = zip.get(&format!("{prefix}byteorder")) {
            if b != b"little" {
                return err("checkpoint is big-endian");
            }
        }
        let root = unpickle(zip.get(&pkl).unwrap())?;
        Ok(Checkpoint { root, zip, prefix })
    }

    /// The f32 data of a contiguous float tensor.
    pub fn tensor_f32(&self, t: &TensorRef) -> Result<Vec<f32>, TorchError> {
        if t.dtype != "FloatStorage" {
            return err(format!("tensor in storage {} is {}, expected FloatStorage", t.storage_key, t.dtype));
        }
        let mut expect = 1usize;
        for (d, s) in t.shape.iter().zip(&t.stride).rev() {
            if *d > 1 && *s != expect {
                return err(format!("tensor in storage {} is not contiguous", t.storage_key));
            }
            expect *= d;
        }
        let n: usize = t.shape.iter().product();
        let name = format!("{}data/{}", self.prefix, t.storage_key);
        let raw = self.zip.get(&name).ok_or_else(|| TorchError(format!("storage {name} missing from the archive")))?;
        let bytes = raw.get(t.offset * 4..(t.offset + n) * 4).ok_or_else(|| TorchError(format!("storage {name} is shorter than its tensor")))?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_a_checkpoint() {
        assert!(Checkpoint::parse(b"not a zip").err().unwrap().0.contains("not a zip archive"));
    }

    #[test]
    fn unpickles_dicts_lists_and_tensor_rebuilds() {
        // {'a': [1, 2.5, 'x'], 't': _rebuild_tensor_v2(pid('storage', FloatStorage, '0', 'cpu', 2), 0, (2,), (1,), False, OrderedDict())}
        let mut p: Vec<u8> = vec![0x80, 2, b'}', b'('];
        let s = |p: &mut Vec<u8>, t: &str| {
            p.push(b'X');
            p.extend((t.len() as u32).to_le_bytes());
            p.extend(t.as_bytes());
        };
        s(&mut p, "a");
        p.extend([b']', b'(', b'K', 1, b'G']);
        p.extend(2.5f64.to_be_bytes());
        s(&mut p, "x");
        p.push(b'e');
        s(&mut p, "t");
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n");
        p.push(b'(');
        p.push(b'(');
        s(&mut p, "storage");
        p.extend(b"ctorch\nFloatStorage\n");
        s(&mut p, "0");
        s(&mut p, "cpu");
        p.extend([b'K', 2, b't', b'Q', b'K', 0, b'K', 2, 0x85, b'K', 1, 0x85, 0x89]);
        p.extend(b"ccollections\nOrderedDict\n");
        p.extend([b')', b'R', b't', b'R', b'u', b'.']);
        let v = unpickle(&p).unwrap();
        let a = v.get("a").and_then(Value::list_items).unwrap();
        assert!(matches!(a[0], Value::Int(1)));
        assert!(matches!(a[1], Value::Float(f) if f == 2.5));
        match v.get("t") {
            Some(Value::Tensor(t)) => {
                assert_eq!((t.storage_key.as_str(), t.dtype.as_str(), t.shape.as_slice()), ("0", "FloatStorage", &[2usize][..]))
            }
            other => panic!("{other:?}"),
        }
    }
}
