//! Structure pictures: `GET /depict?smiles=` and a result's
//! `depiction.svg`, SVG from RDKit's 2D drawing code through the bridge.
//!
//! Drawing takes about a millisecond; the same structures are asked for
//! again and again (a results table, every listener of a run), so pictures
//! are kept by canonical SMILES and size, a few thousand of them, and served
//! with a long `Cache-Control`: the same SMILES draws the same picture.

use crate::error::ApiError;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Pictures kept, by bytes of SVG.
const CACHE_BYTES: usize = 32 << 20;

pub const DEFAULT_WIDTH: u32 = 300;
pub const DEFAULT_HEIGHT: u32 = 200;

type Key = (String, u32, u32);

/// Drawn pictures, the oldest dropped first once over `CACHE_BYTES`.
#[derive(Clone, Default)]
pub struct Pictures {
    inner: Arc<Mutex<Kept>>,
}

#[derive(Default)]
struct Kept {
    svg: HashMap<Key, Arc<str>>,
    order: VecDeque<Key>,
    bytes: usize,
}

impl Pictures {
    /// The SVG of `smiles` at `width` x `height`: drawn once, then kept.
    pub async fn get(&self, smiles: &str, width: u32, height: u32) -> Result<Arc<str>, ApiError> {
        let range = pharmforge_chem::SVG_SIZE_RANGE;
        for (name, px) in [("width", width), ("height", height)] {
            if !range.contains(&px) {
                return Err(ApiError::validation(name, format!("{name} must be between {} and {} pixels, got {px}", range.start(), range.end())));
            }
        }
        let smiles = smiles.to_owned();
        let pictures = self.clone();
        // Parsing and drawing are RDKit's work: off the async threads.
        tokio::task::spawn_blocking(move || pictures.draw(&smiles, width, height)).await.map_err(|e| ApiError::Internal(Box::new(e)))?
    }

    fn draw(&self, smiles: &str, width: u32, height: u32) -> Result<Arc<str>, ApiError> {
        let molecule =
            pharmforge_chem::Molecule::from_smiles(smiles).map_err(|e| ApiError::validation("smiles", format!("RDKit cannot read this SMILES: {e}")))?;
        let key = (molecule.canonical_smiles(), width, height);
        if let Some(svg) = self.inner.lock().unwrap().svg.get(&key) {
            return Ok(svg.clone());
        }
        // Drawn from the canonical SMILES, not the caller's spelling: the
        // layout follows the atom order, and every spelling of a structure
        // must get the same picture, on every replica, cached or not.
        let svg: Arc<str> = pharmforge_chem::depict_svg(&key.0, width, height)
            .map_err(|e| ApiError::validation("smiles", format!("RDKit cannot draw this molecule: {e}")))?
            .into();
        let mut kept = self.inner.lock().unwrap();
        if !kept.svg.contains_key(&key) {
            kept.bytes += svg.len();
            kept.svg.insert(key.clone(), svg.clone());
            kept.order.push_back(key);
            while kept.bytes > CACHE_BYTES {
                let Some(old) = kept.order.pop_front() else { break };
                if let Some(gone) = kept.svg.remove(&old) {
                    kept.bytes -= gone.len();
                }
            }
        }
        Ok(svg)
    }
}

/// An SVG response that browsers and proxies may keep for a day.
pub fn svg_response(svg: Arc<str>) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], svg.to_string()).into_response()
}
