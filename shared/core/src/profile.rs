//! Scoring profiles: what a project team calls a good compound.
//!
//! A profile turns chosen raw values of a compound's result (any numeric or
//! boolean field: `properties.logp`, `admet.hERG`,
//! `admet.Solubility_AqSolDB_drugbank_approved_percentile`,
//! `bioactivity.best_pchembl`) into desirabilities between 0 and 1, each with
//! a transform of REINVENT 4 (`reinvent/scoring/transforms`, same parameters,
//! same values: see [`Transform`]), and combines them into one score:
//!
//! * `weighted_mean`: Σ wᵢ·dᵢ / Σ wᵢ;
//! * `geometric_mean`: Π dᵢ^(wᵢ/Σ w), with no floor: a desirability of 0
//!   makes the score 0;
//! * `pareto`: non-dominated sorting of the compounds' desirabilities into
//!   fronts (front 1 is dominated by none); inside a front, compounds are
//!   ordered by their weighted mean, which is also their score (so it can be
//!   recomputed by hand); front first, then that score.
//!
//! A value that is missing (its adapter failed or was not on the route, or
//! a `value_map` has no entry for it) follows its objective's `on_missing`:
//! `skip` (the default: left out of the mean), `zero` (desirability 0) or
//! `unranked` (the compound gets no score and no rank). In a Pareto sort a
//! skipped objective counts as 0 for dominance.
//!
//! Ranks: 1 is best, ties share a rank and the next rank skips (1, 2, 2,
//! 4), compounds without a score come after every ranked one, unranked.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The numeric (or boolean) fields results carry, by section, as the
/// adapters write them: what a profile's `value` may name.
pub const PROPERTIES_FIELDS: &[&str] = &[
    "molecular_weight",
    "exact_mass",
    "logp",
    "molar_refractivity",
    "tpsa",
    "h_bond_donors",
    "h_bond_acceptors",
    "rotatable_bonds",
    "num_atoms",
    "num_heavy_atoms",
    "num_rings",
    "num_aromatic_rings",
    "fraction_csp3",
    "formal_charge",
    "stereo_centers",
    "lipinski_violations",
    "qed",
];
/// ADMET-AI 2.0.1's physicochemical columns and its 41 endpoints (the
/// models' output columns); each also has `<name>_drugbank_approved_percentile`.
pub const ADMET_FIELDS: &[&str] = &[
    "molecular_weight",
    "logP",
    "hydrogen_bond_acceptors",
    "hydrogen_bond_donors",
    "Lipinski",
    "QED",
    "stereo_centers",
    "tpsa",
    "PAINS_alert",
    "BRENK_alert",
    "NIH_alert",
    "AMES",
    "BBB_Martins",
    "Bioavailability_Ma",
    "CYP1A2_Veith",
    "CYP2C19_Veith",
    "CYP2C9_Substrate_CarbonMangels",
    "CYP2C9_Veith",
    "CYP2D6_Substrate_CarbonMangels",
    "CYP2D6_Veith",
    "CYP3A4_Substrate_CarbonMangels",
    "CYP3A4_Veith",
    "Carcinogens_Lagunin",
    "ClinTox",
    "DILI",
    "HIA_Hou",
    "NR-AR-LBD",
    "NR-AR",
    "NR-AhR",
    "NR-Aromatase",
    "NR-ER-LBD",
    "NR-ER",
    "NR-PPAR-gamma",
    "PAMPA_NCATS",
    "Pgp_Broccatelli",
    "SR-ARE",
    "SR-ATAD5",
    "SR-HSE",
    "SR-MMP",
    "SR-p53",
    "Skin_Reaction",
    "hERG",
    "Caco2_Wang",
    "Clearance_Hepatocyte_AZ",
    "Clearance_Microsome_AZ",
    "Half_Life_Obach",
    "HydrationFreeEnergy_FreeSolv",
    "LD50_Zhu",
    "Lipophilicity_AstraZeneca",
    "PPBR_AZ",
    "Solubility_AqSolDB",
    "VDss_Lombardo",
];
pub const PUBCHEM_FIELDS: &[&str] = &["molecular_weight", "xlogp", "tpsa", "h_bond_donors", "h_bond_acceptors", "rotatable_bonds", "found", "structure_match"];
pub const BIOACTIVITY_FIELDS: &[&str] = &["num_activities", "num_targets", "best_ic50_nm", "best_ki_nm", "best_pchembl", "found", "truncated"];
/// The suffix of an ADMET value's DrugBank-approved percentile.
pub const PERCENTILE_SUFFIX: &str = "_drugbank_approved_percentile";

/// Where an ADMET value is in a result's `admet_values` array, 0-based: a
/// prediction (`hERG`, from `properties`) at its place in [`ADMET_FIELDS`],
/// its percentile (`hERG_drugbank_approved_percentile`, from `percentiles`)
/// that many places further. The layout of the migration
/// `20261201000001_admet_values` (append-only: a position never changes
/// meaning). `None` for a name not in the list.
pub fn admet_value_position(name: &str) -> Option<usize> {
    static POSITIONS: std::sync::LazyLock<std::collections::HashMap<String, usize>> = std::sync::LazyLock::new(|| {
        let names = ADMET_FIELDS.iter().map(|f| f.to_string()).chain(ADMET_FIELDS.iter().map(|f| format!("{f}{PERCENTILE_SUFFIX}")));
        names.enumerate().map(|(at, name)| (name, at)).collect()
    });
    POSITIONS.get(name).copied()
}

/// A result's `admet_values` from its ADMET section's JSON text: each of
/// its numbers at its [`admet_value_position`], `None` where the section has
/// no number there; `None` when the section is not an object. Numbers are
/// read from their text exactly (Rust's `f64` parsing rounds correctly,
/// serde_json's default parsing may land an ulp off), so the array holds
/// the values the JSON says, as Postgres reads them.
pub fn admet_values(admet: &str) -> Option<Vec<Option<f64>>> {
    use serde_json::value::RawValue;
    type Object<'a> = std::collections::HashMap<std::borrow::Cow<'a, str>, &'a RawValue>;
    let admet: Object = serde_json::from_str(admet).ok()?;
    let n = ADMET_FIELDS.len();
    let mut values = vec![None; 2 * n];
    for (part, range) in [("properties", 0..n), ("percentiles", n..2 * n)] {
        let Some(part) = admet.get(part).filter(|p| p.get().starts_with('{')).and_then(|p| serde_json::from_str::<Object>(p.get()).ok()) else {
            continue;
        };
        for (name, value) in part {
            if let Some(at) = admet_value_position(&name).filter(|at| range.contains(at)) {
                let text = value.get();
                values[at] = text.starts_with(|c: char| c == '-' || c.is_ascii_digit()).then(|| text.parse().ok()).flatten();
            }
        }
    }
    Some(values)
}

/// Where `path` (`section.field`, as export columns are named) is in a
/// result: the section and the keys inside it. ADMET values sit under
/// `properties`, their percentiles under `percentiles`. `None` for a path no
/// result carries.
pub fn locate(path: &str) -> Option<(&'static str, [&str; 2])> {
    let (section, field) = path.split_once('.')?;
    match section {
        "properties" if PROPERTIES_FIELDS.contains(&field) => Some(("properties", [field, ""])),
        "pubchem" if PUBCHEM_FIELDS.contains(&field) => Some(("pubchem", [field, ""])),
        "bioactivity" if BIOACTIVITY_FIELDS.contains(&field) => Some(("bioactivity", [field, ""])),
        "admet" => match field.strip_suffix(PERCENTILE_SUFFIX) {
            Some(name) if ADMET_FIELDS.contains(&name) => Some(("admet", ["percentiles", field])),
            None if ADMET_FIELDS.contains(&field) => Some(("admet", ["properties", field])),
            _ => None,
        },
        _ => None,
    }
}

/// The raw value `path` names in a result's sections (`None` when absent).
pub fn lookup(sections: &Map<String, Value>, path: &str) -> Option<Value> {
    let (section, keys) = locate(path)?;
    let mut v = sections.get(section)?;
    for k in keys.iter().filter(|k| !k.is_empty()) {
        v = v.get(*k)?;
    }
    Some(v.clone())
}

/// How a raw value becomes a desirability in 0..1. The sigmoids are
/// REINVENT 4's (base-10 logistic functions):
///
/// * `sigmoid {low, high, k}`: with x = v − (low + high)/2 and
///   κ = 10·k/(high − low), d = 1/(1 + 10^(−κ·x)); when high = low, a hard
///   step: d = 1 if k·x > 0 else 0.
/// * `reverse_sigmoid {low, high, k}`: 1 − sigmoid.
/// * `double_sigmoid {low, high, coef_div = 100, coef_si = 150, coef_se = 150}`:
///   below the centre c = low + (high − low)/2, the sigmoid of v − low with
///   κ = coef_si/coef_div; from c on, 1 − the sigmoid of v − high with
///   κ = coef_se/coef_div (hard steps when coef_div = 0).
/// * `step {low, high}`: 1 if low ≤ v ≤ high, else 0.
/// * `value_map {mapping}`: the mapped value of the raw value as text
///   (`"true"`, `"false"`, `"2"`, a category); one not in the map is missing.
/// * `identity`: the value itself, for values already in 0..1 (clamped).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transform {
    Sigmoid { low: f64, high: f64, k: f64 },
    ReverseSigmoid { low: f64, high: f64, k: f64 },
    DoubleSigmoid { low: f64, high: f64, coef_div: f64, coef_si: f64, coef_se: f64 },
    Step { low: f64, high: f64 },
    ValueMap { mapping: BTreeMap<String, f64> },
    Identity,
}

/// The base-10 logistic function REINVENT's sigmoids share, computed so
/// that it cannot overflow.
fn sigmoid10(x: f64, k: f64) -> f64 {
    let h = k * x * std::f64::consts::LN_10;
    if h >= 0.0 {
        1.0 / (1.0 + (-h).exp())
    } else {
        let e = h.exp();
        e / (1.0 + e)
    }
}

fn hard_step(x: f64, k: f64) -> f64 {
    if k * x > 0.0 {
        1.0
    } else {
        0.0
    }
}

impl Transform {
    /// The desirability of `raw`, or `None` when it has none (not a number
    /// where one is needed, not in a value map, not finite).
    pub fn apply(&self, raw: &Value) -> Option<f64> {
        let number = || match raw {
            Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        };
        let d = match self {
            Transform::Sigmoid { low, high, k } | Transform::ReverseSigmoid { low, high, k } => {
                let x = number()? - (high + low) / 2.0;
                let s = if high == low { hard_step(x, 10.0 * k) } else { sigmoid10(x, 10.0 * k / (high - low)) };
                if matches!(self, Transform::Sigmoid { .. }) {
                    s
                } else {
                    1.0 - s
                }
            }
            Transform::DoubleSigmoid { low, high, coef_div, coef_si, coef_se } => {
                let v = number()?;
                let centre = (high - low) / 2.0 + low;
                if v < centre {
                    let x = v - low;
                    if *coef_div == 0.0 {
                        hard_step(x, *coef_si)
                    } else {
                        sigmoid10(x, coef_si / coef_div)
                    }
                } else {
                    let x = v - high;
                    1.0 - if *coef_div == 0.0 { hard_step(x, *coef_se) } else { sigmoid10(x, coef_se / coef_div) }
                }
            }
            Transform::Step { low, high } => {
                let v = number()?;
                if *low <= v && v <= *high {
                    1.0
                } else {
                    0.0
                }
            }
            Transform::ValueMap { mapping } => {
                let key = match raw {
                    Value::String(s) => s.clone(),
                    Value::Bool(_) | Value::Number(_) => raw.to_string(),
                    _ => return None,
                };
                *mapping.get(&key)?
            }
            Transform::Identity => number()?.clamp(0.0, 1.0),
        };
        d.is_finite().then_some(d)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    WeightedMean,
    GeometricMean,
    Pareto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    Skip,
    Zero,
    Unranked,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    pub name: String,
    /// `section.field`, as the export names columns.
    pub value: String,
    pub transform: Transform,
    pub weight: f64,
    pub on_missing: OnMissing,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub method: Method,
    pub objectives: Vec<Objective>,
}

/// Why a profile is refused: which objective (or `None` for the profile
/// itself) and what is wrong, for a 422 at submission.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{reason}", .objective.as_ref().map(|o| format!("objective {o:?}: ")).unwrap_or_default())]
pub struct ProfileError {
    pub objective: Option<String>,
    pub reason: String,
}

fn refuse(objective: Option<&str>, reason: impl Into<String>) -> ProfileError {
    ProfileError { objective: objective.map(str::to_owned), reason: reason.into() }
}

/// The most objectives a profile may have.
pub const MAX_OBJECTIVES: usize = 32;

/// Reads one field of a profile as a finite number.
fn number(obj: &Map<String, Value>, key: &str, default: Option<f64>, who: Option<&str>, what: &str) -> Result<f64, ProfileError> {
    match obj.get(key) {
        None if default.is_some() => Ok(default.unwrap_or_default()),
        None => Err(refuse(who, format!("{what} needs {key:?}"))),
        Some(v) => v.as_f64().filter(|f| f.is_finite()).ok_or_else(|| refuse(who, format!("{what}: {key:?} must be a finite number, got {v}"))),
    }
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], who: Option<&str>, what: &str) -> Result<(), ProfileError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(refuse(who, format!("{what} has no field {k:?} (it takes {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

impl Transform {
    fn parse(v: &Value, who: &str) -> Result<Transform, ProfileError> {
        let who = Some(who);
        let obj = v.as_object().ok_or_else(|| refuse(who, "transform must be an object with a \"type\""))?;
        let kind = obj.get("type").and_then(Value::as_str).ok_or_else(|| refuse(who, "transform needs a \"type\""))?;
        let what = format!("transform {kind}");
        let t = match kind {
            "sigmoid" | "reverse_sigmoid" => {
                only_keys(obj, &["type", "low", "high", "k"], who, &what)?;
                let (low, high, k) = (number(obj, "low", None, who, &what)?, number(obj, "high", None, who, &what)?, number(obj, "k", None, who, &what)?);
                if high < low {
                    return Err(refuse(who, format!("{what}: high ({high}) is below low ({low})")));
                }
                match kind {
                    "sigmoid" => Transform::Sigmoid { low, high, k },
                    _ => Transform::ReverseSigmoid { low, high, k },
                }
            }
            "double_sigmoid" => {
                only_keys(obj, &["type", "low", "high", "coef_div", "coef_si", "coef_se"], who, &what)?;
                let (low, high) = (number(obj, "low", None, who, &what)?, number(obj, "high", None, who, &what)?);
                if high < low {
                    return Err(refuse(who, format!("{what}: high ({high}) is below low ({low})")));
                }
                Transform::DoubleSigmoid {
                    low,
                    high,
                    coef_div: number(obj, "coef_div", Some(100.0), who, &what)?,
                    coef_si: number(obj, "coef_si", Some(150.0), who, &what)?,
                    coef_se: number(obj, "coef_se", Some(150.0), who, &what)?,
                }
            }
            "step" => {
                only_keys(obj, &["type", "low", "high"], who, &what)?;
                let (low, high) = (number(obj, "low", None, who, &what)?, number(obj, "high", None, who, &what)?);
                if high < low {
                    return Err(refuse(who, format!("{what}: high ({high}) is below low ({low})")));
                }
                Transform::Step { low, high }
            }
            "value_map" => {
                only_keys(obj, &["type", "mapping"], who, &what)?;
                let map = obj.get("mapping").and_then(Value::as_object).ok_or_else(|| refuse(who, "transform value_map needs a \"mapping\" object"))?;
                if map.is_empty() || map.len() > 256 {
                    return Err(refuse(who, "transform value_map: the mapping needs 1 to 256 entries"));
                }
                let mut mapping = BTreeMap::new();
                for (k, v) in map {
                    match v.as_f64() {
                        Some(d) if (0.0..=1.0).contains(&d) => mapping.insert(k.clone(), d),
                        _ => return Err(refuse(who, format!("transform value_map: {k:?} maps to {v}, not a desirability from 0 to 1"))),
                    };
                }
                Transform::ValueMap { mapping }
            }
            "identity" => {
                only_keys(obj, &["type"], who, &what)?;
                Transform::Identity
            }
            other => {
                return Err(refuse(
                    who,
                    format!(
                        "unknown transform type {:?} (sigmoid, reverse_sigmoid, double_sigmoid, step, value_map, identity)",
                        other.chars().take(40).collect::<String>()
                    ),
                ))
            }
        };
        Ok(t)
    }
}

impl Profile {
    /// Reads and checks a profile (`pipeline_config.scoring`). `known`
    /// answers whether a `section.field` path names a value results carry.
    pub fn parse(v: &Value, known: &dyn Fn(&str) -> bool) -> Result<Profile, ProfileError> {
        let obj = v.as_object().ok_or_else(|| refuse(None, "a scoring profile is an object with \"method\" and \"objectives\""))?;
        only_keys(obj, &["method", "objectives"], None, "a scoring profile")?;
        let method = match obj.get("method").and_then(Value::as_str).unwrap_or("weighted_mean") {
            "weighted_mean" => Method::WeightedMean,
            "geometric_mean" => Method::GeometricMean,
            "pareto" => Method::Pareto,
            other => {
                return Err(refuse(None, format!("unknown method {:?} (weighted_mean, geometric_mean, pareto)", other.chars().take(40).collect::<String>())))
            }
        };
        let list = obj.get("objectives").and_then(Value::as_array).ok_or_else(|| refuse(None, "a scoring profile needs a list of \"objectives\""))?;
        if list.is_empty() || list.len() > MAX_OBJECTIVES {
            return Err(refuse(None, format!("a scoring profile needs 1 to {MAX_OBJECTIVES} objectives, got {}", list.len())));
        }
        let mut objectives: Vec<Objective> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let o = item.as_object().ok_or_else(|| refuse(None, format!("objective {} is not an object", i + 1)))?;
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty() && n.len() <= 64)
                .ok_or_else(|| refuse(None, format!("objective {} needs a \"name\" of 1 to 64 characters", i + 1)))?;
            let who = Some(name);
            if objectives.iter().any(|p| p.name == name) {
                return Err(refuse(who, "two objectives have this name"));
            }
            only_keys(o, &["name", "value", "transform", "weight", "on_missing"], who, "an objective")?;
            let value = o
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| refuse(who, "needs a \"value\": the path of a number in the result, e.g. \"properties.logp\""))?;
            if !known(value) {
                return Err(refuse(
                    who,
                    format!("unknown value path {:?}: not a numeric field any result carries", value.chars().take(80).collect::<String>()),
                ));
            }
            let transform = Transform::parse(o.get("transform").unwrap_or(&Value::Null), name)?;
            let weight = number(o, "weight", Some(1.0), who, "the objective")?;
            if weight < 0.0 {
                return Err(refuse(who, format!("weight {weight} is negative")));
            }
            let on_missing = match o.get("on_missing").map(|v| v.as_str().unwrap_or("?")) {
                None | Some("skip") => OnMissing::Skip,
                Some("zero") => OnMissing::Zero,
                Some("unranked") => OnMissing::Unranked,
                Some(other) => return Err(refuse(who, format!("on_missing must be skip, zero or unranked, got {other:?}"))),
            };
            objectives.push(Objective { name: name.to_owned(), value: value.to_owned(), transform, weight, on_missing });
        }
        if objectives.iter().map(|o| o.weight).sum::<f64>() <= 0.0 {
            return Err(refuse(None, "the objectives' weights sum to 0"));
        }
        Ok(Profile { method, objectives })
    }

    /// One compound's objectives and score, from `lookup` (a path's raw
    /// value in its result, `None` when absent or null).
    pub fn score(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> Scored {
        let mut parts = Vec::with_capacity(self.objectives.len());
        let mut unranked = false;
        for o in &self.objectives {
            let raw = lookup(&o.value).filter(|v| !v.is_null());
            let desirability = raw.as_ref().and_then(|r| o.transform.apply(r));
            let used = match (desirability, o.on_missing) {
                (Some(d), _) => Some(d),
                (None, OnMissing::Zero) => Some(0.0),
                (None, OnMissing::Skip) => None,
                (None, OnMissing::Unranked) => {
                    unranked = true;
                    None
                }
            };
            parts.push(Part { name: o.name.clone(), raw, desirability: used, weight: o.weight });
        }
        let included: Vec<(f64, f64)> = parts.iter().filter_map(|p| Some((p.desirability?, p.weight))).collect();
        let total: f64 = included.iter().map(|(_, w)| w).sum();
        let final_score = if unranked || total <= 0.0 {
            None
        } else {
            match self.method {
                Method::WeightedMean | Method::Pareto => Some(included.iter().map(|(d, w)| d * w).sum::<f64>() / total),
                Method::GeometricMean => {
                    if included.iter().any(|(d, w)| *d <= 0.0 && *w > 0.0) {
                        Some(0.0)
                    } else {
                        Some((included.iter().map(|(d, w)| w * d.ln()).sum::<f64>() / total).exp())
                    }
                }
            }
        };
        Scored { parts, final_score }
    }
}

/// One objective of one compound: what was read, what it is worth, and how
/// much it counts (`desirability` is `None` when left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    pub name: String,
    pub raw: Option<Value>,
    pub desirability: Option<f64>,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub parts: Vec<Part>,
    /// `None`: the compound is unranked.
    pub final_score: Option<f64>,
}

/// Pareto fronts (1 = non-dominated) of `points` (each compound's
/// desirabilities, all the same length; higher is better). `a` dominates `b`
/// when it is at least as good on every objective and better on one.
/// Efficient non-dominated sort (sequential search): compounds in
/// lexicographically descending order, each placed in the first front where
/// none dominates it, so only earlier compounds (which it cannot dominate)
/// are compared.
pub fn pareto_fronts(points: &[Vec<f64>]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[b].iter().zip(&points[a]).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal));
    let dominates = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y);
    let mut fronts: Vec<Vec<usize>> = Vec::new();
    let mut front_of = vec![0u32; points.len()];
    for i in order {
        let p = &points[i];
        let f = fronts.iter().position(|members| !members.iter().rev().any(|&m| dominates(&points[m], p))).unwrap_or(fronts.len());
        if f == fronts.len() {
            fronts.push(Vec::new());
        }
        fronts[f].push(i);
        front_of[i] = f as u32 + 1;
    }
    front_of
}

/// Competition ranks ("1224") of sort keys, best first by `better`; `None`
/// keys are unranked.
pub fn competition_ranks<K: PartialEq>(keys: &[Option<K>], better: impl Fn(&K, &K) -> std::cmp::Ordering) -> Vec<Option<u32>> {
    let mut order: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].is_some()).collect();
    order.sort_by(|&a, &b| better(keys[a].as_ref().unwrap(), keys[b].as_ref().unwrap()).then(a.cmp(&b)));
    let mut ranks = vec![None; keys.len()];
    let mut last: Option<(usize, u32)> = None;
    for (pos, &i) in order.iter().enumerate() {
        let rank = match last {
            Some((j, r)) if keys[j] == keys[i] => r,
            _ => pos as u32 + 1,
        };
        ranks[i] = Some(rank);
        last = Some((i, rank));
    }
    ranks
}

/// Whether `path` names a value results carry (what [`Profile::parse`] checks).
pub fn known_path(path: &str) -> bool {
    locate(path).is_some()
}

impl Profile {
    /// The profile as JSON, in the form [`Profile::parse`] reads (every
    /// default written out): what a run stores and shows.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a profile serializes")
    }
}

impl Scored {
    /// `{objective: desirability}` (null where left out): a result's `scores`.
    pub fn desirabilities(&self) -> Map<String, Value> {
        self.parts.iter().map(|p| (p.name.clone(), p.desirability.map(Value::from).unwrap_or(Value::Null))).collect()
    }
}

impl Profile {
    /// The sections (`properties`, `admet`, ...) the objectives read.
    pub fn sections(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self.objectives.iter().filter_map(|o| Some(locate(&o.value)?.0)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// [`Profile::score`] of a record's sections as carried (JSON text):
    /// parses only the sections the objectives read.
    pub fn score_sections(&self, sections: &BTreeMap<String, Box<serde_json::value::RawValue>>) -> Scored {
        let parsed: Map<String, Value> =
            self.sections().into_iter().filter_map(|name| Some((name.to_owned(), serde_json::from_str(sections.get(name)?.get()).ok()?))).collect();
        self.score(&|path| lookup(&parsed, path))
    }
}

/// A built-in profile: its name, what it is for, and its definition.
pub struct BuiltIn {
    pub name: &'static str,
    pub description: &'static str,
    pub profile: Value,
}

/// The name of the profile a run gets when `pipeline_config.scoring` is absent.
pub const DEFAULT_PROFILE: &str = "default";

/// The named profiles `pipeline_config.scoring` may give by name. Each
/// toxicity probability of ADMET-AI goes through a reverse sigmoid centred
/// on 0.5 (0.2 → 0.98, 0.8 → 0.02), which keeps the order of the
/// probabilities and pulls apart the confident ones; ranges of physical
/// properties are double sigmoids or reverse sigmoids whose half-way
/// points sit on the published cut-offs.
pub fn builtins() -> Vec<BuiltIn> {
    let tox = |name: &str, path: &str, weight: f64| serde_json::json!({"name": name, "value": path, "transform": {"type": "reverse_sigmoid", "low": 0.2, "high": 0.8, "k": 0.25}, "weight": weight});
    let ident = |name: &str, path: &str, weight: f64| serde_json::json!({"name": name, "value": path, "transform": {"type": "identity"}, "weight": weight});
    let range = |name: &str, path: &str, low: f64, high: f64, div: f64, coef: f64| serde_json::json!({"name": name, "value": path, "transform": {"type": "double_sigmoid", "low": low, "high": high, "coef_div": div, "coef_si": coef, "coef_se": coef}, "weight": 1.0});
    let at_most = |name: &str, path: &str, low: f64, high: f64| serde_json::json!({"name": name, "value": path, "transform": {"type": "reverse_sigmoid", "low": low, "high": high, "k": 0.5}, "weight": 1.0});
    vec![
        BuiltIn {
            name: DEFAULT_PROFILE,
            description: "Drug-likeness with a safety term, as PharmForge scored before profiles: the weighted mean of QED, \
                a Lipinski term (1 − violations/4) and the four ADMET-AI toxicity endpoints (AMES, hERG, DILI, ClinTox) at a \
                quarter weight each, so that together they weigh as much as QED. Objectives whose adapter was not on the route \
                are left out.",
            profile: serde_json::json!({"method": "weighted_mean", "objectives": [
                ident("qed", "properties.qed", 1.0),
                {"name": "lipinski", "value": "properties.lipinski_violations",
                 "transform": {"type": "value_map", "mapping": {"0": 1.0, "1": 0.75, "2": 0.5, "3": 0.25, "4": 0.0}}, "weight": 1.0},
                tox("AMES", "admet.AMES", 0.25), tox("hERG", "admet.hERG", 0.25), tox("DILI", "admet.DILI", 0.25), tox("ClinTox", "admet.ClinTox", 0.25),
            ]}),
        },
        BuiltIn {
            name: "oral_drug_like",
            description: "Oral small molecules (Lipinski's rule of five and Veber's rules as desirabilities, plus ADMET-AI's oral \
                bioavailability and intestinal absorption), combined as a geometric mean: a compound far outside any one range \
                scores near 0 whatever the rest.",
            profile: serde_json::json!({"method": "geometric_mean", "objectives": [
                range("molecular_weight", "properties.molecular_weight", 200.0, 500.0, 500.0, 10.0),
                range("logp", "properties.logp", -1.0, 5.0, 10.0, 10.0),
                at_most("h_bond_donors", "properties.h_bond_donors", 5.0, 7.0),
                at_most("h_bond_acceptors", "properties.h_bond_acceptors", 10.0, 12.0),
                at_most("tpsa", "properties.tpsa", 120.0, 160.0),
                at_most("rotatable_bonds", "properties.rotatable_bonds", 8.0, 12.0),
                ident("bioavailability", "admet.Bioavailability_Ma", 1.0),
                ident("absorption", "admet.HIA_Hou", 1.0),
            ]}),
        },
        BuiltIn {
            name: "cns",
            description: "Central nervous system drugs, after Wager's CNS MPO desirabilities (logP ≤ 3, MW ≤ 360, TPSA 40–90, \
                HBD ≤ 0.5 fully desirable), with ADMET-AI's blood-brain barrier penetration at double weight and hERG at half.",
            profile: serde_json::json!({"method": "weighted_mean", "objectives": [
                at_most("logp", "properties.logp", 3.0, 5.0),
                at_most("molecular_weight", "properties.molecular_weight", 360.0, 500.0),
                range("tpsa", "properties.tpsa", 30.0, 105.0, 100.0, 13.0),
                at_most("h_bond_donors", "properties.h_bond_donors", 0.5, 3.5),
                ident("bbb", "admet.BBB_Martins", 2.0),
                tox("hERG", "admet.hERG", 0.5),
            ]}),
        },
        BuiltIn {
            name: "lead_like",
            description: "Leads with room to grow (Teague and Oprea: MW 200–350, logP ≤ 3, at most 7 rotatable bonds), with QED.",
            profile: serde_json::json!({"method": "weighted_mean", "objectives": [
                range("molecular_weight", "properties.molecular_weight", 200.0, 350.0, 100.0, 4.0),
                range("logp", "properties.logp", -1.0, 3.0, 10.0, 10.0),
                at_most("rotatable_bonds", "properties.rotatable_bonds", 7.0, 9.0),
                ident("qed", "properties.qed", 1.0),
            ]}),
        },
        BuiltIn {
            name: "potency_vs_safety",
            description: "Pareto fronts of potency (ChEMBL's best pChEMBL, half-way at 6.5), hERG safety and QED: front 1 holds \
                the compounds no other beats on all three; inside a front, the weighted mean orders them.",
            profile: serde_json::json!({"method": "pareto", "objectives": [
                {"name": "potency", "value": "bioactivity.best_pchembl", "transform": {"type": "sigmoid", "low": 5.0, "high": 8.0, "k": 0.5}, "weight": 1.0},
                tox("hERG", "admet.hERG", 1.0),
                ident("qed", "properties.qed", 1.0),
            ]}),
        },
    ]
}

impl Profile {
    /// The profile as a run's scoring history holds it: `{profile, name?}`
    /// (`name`: the built-in it was chosen by; the time it applies from is
    /// added where it is stored).
    pub fn history_entry(&self, name: Option<&str>) -> Value {
        let mut entry = serde_json::json!({"profile": self.to_json()});
        if let Some(name) = name {
            entry["name"] = Value::from(name);
        }
        entry
    }
}

/// The profile a run gets when it names none.
pub fn default_profile() -> Profile {
    let builtin = builtins().into_iter().find(|b| b.name == DEFAULT_PROFILE).expect("the default is built in");
    Profile::parse(&builtin.profile, &known_path).expect("the default profile is valid")
}

/// `pipeline_config.scoring` (or a rescore's `scoring`): a built-in's name,
/// or a profile. Returns the built-in's name, if one was named, and the profile.
pub fn resolve(v: &Value) -> Result<(Option<&'static str>, Profile), ProfileError> {
    match v {
        Value::String(name) => {
            let all = builtins();
            match all.iter().find(|b| b.name == name) {
                Some(b) => Ok((Some(b.name), Profile::parse(&b.profile, &known_path)?)),
                None => Err(refuse(
                    None,
                    format!(
                        "no built-in profile {:?} (built in: {}); or give a profile object",
                        name.chars().take(64).collect::<String>(),
                        all.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        }
        other => Ok((None, Profile::parse(other, &known_path)?)),
    }
}

/// Where a compound stands in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    /// Competition rank (1 is best, ties share, the next skips); `None`:
    /// unranked.
    pub rank: Option<u32>,
    /// 1.. in rank order, ties in input order: each ranked compound's own
    /// place, by which pages and exports walk the ranking.
    pub order: Option<u32>,
    /// The Pareto front (1 = dominated by none), for the `pareto` method.
    pub front: Option<u32>,
}

/// The placements of a run's compounds, from each one's final score
/// (`None`: unranked) and desirabilities (in the profile's objective order,
/// `None` where left out, which counts as 0 in a Pareto sort), given in
/// input order. Weighted and geometric means rank by the score; Pareto by
/// front, then by the score inside it.
pub fn place(method: Method, compounds: &[(Option<f64>, Vec<Option<f64>>)]) -> Vec<Placement> {
    let ranked: Vec<usize> = (0..compounds.len()).filter(|&i| compounds[i].0.is_some()).collect();
    let mut fronts: Vec<Option<u32>> = vec![None; compounds.len()];
    if method == Method::Pareto {
        let points: Vec<Vec<f64>> = ranked.iter().map(|&i| compounds[i].1.iter().map(|d| d.unwrap_or(0.0)).collect()).collect();
        for (&i, f) in ranked.iter().zip(pareto_fronts(&points)) {
            fronts[i] = Some(f);
        }
    }
    let keys: Vec<Option<(u32, f64)>> = compounds.iter().zip(&fronts).map(|((score, _), front)| score.map(|s| (front.unwrap_or(0), s))).collect();
    let ranks = competition_ranks(&keys, |a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut order: Vec<usize> = ranked;
    order.sort_by_key(|&i| (ranks[i], i));
    let mut placements: Vec<Placement> = ranks.iter().zip(&fronts).map(|(&rank, &front)| Placement { rank, order: None, front }).collect();
    for (pos, i) in order.into_iter().enumerate() {
        placements[i].order = Some(pos as u32 + 1);
    }
    placements
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a desirability");
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn t(v: Value) -> Transform {
        Transform::parse(&v, "o").unwrap()
    }

    // Expected values worked out by hand from REINVENT 4's formulas
    // (sigmoid: 1/(1 + 10^(−κ·x)), κ = 10k/(high − low), x = v − (low + high)/2).
    #[test]
    fn sigmoids_as_reinvent_defines_them() {
        let s = t(json!({"type": "sigmoid", "low": 0, "high": 10, "k": 0.5}));
        close(s.apply(&json!(5)), 0.5);
        close(s.apply(&json!(7)), 1.0 / 1.1); // κx = 0.5·2 = 1
        close(s.apply(&json!(3)), 1.0 / 11.0);
        let r = t(json!({"type": "reverse_sigmoid", "low": 0, "high": 10, "k": 0.5}));
        close(r.apply(&json!(7)), 1.0 - 1.0 / 1.1);
        // high = low: a hard step at the centre, 0 at it.
        let hard = t(json!({"type": "sigmoid", "low": 4, "high": 4, "k": 1}));
        assert_eq!((hard.apply(&json!(5)), hard.apply(&json!(4)), hard.apply(&json!(3))), (Some(1.0), Some(0.0), Some(0.0)));
        // Far from the centre it saturates without overflowing.
        close(s.apply(&json!(1e6)), 1.0);
        close(s.apply(&json!(-1e6)), 0.0);
    }

    #[test]
    fn the_double_sigmoid_with_reinvents_default_coefficients() {
        let d = t(json!({"type": "double_sigmoid", "low": 2, "high": 6}));
        // κ = coef_si / coef_div = 1.5 on both sides; the centre is 4.
        let inside = 1.0 / (1.0 + 10f64.powf(-1.5));
        close(d.apply(&json!(3)), inside);
        close(d.apply(&json!(5)), inside);
        close(d.apply(&json!(2)), 0.5);
        close(d.apply(&json!(6)), 0.5);
        close(d.apply(&json!(0)), 1.0 / (1.0 + 1000.0));
        close(d.apply(&json!(8)), 1.0 - 1.0 / (1.0 + 0.001)); // 1 − sigmoid(8 − 6)
        let hard = t(json!({"type": "double_sigmoid", "low": 2, "high": 6, "coef_div": 0}));
        assert_eq!((hard.apply(&json!(3)), hard.apply(&json!(7)), hard.apply(&json!(1))), (Some(1.0), Some(0.0), Some(0.0)));
    }

    #[test]
    fn steps_maps_and_identity() {
        let s = t(json!({"type": "step", "low": 1, "high": 3}));
        assert_eq!((s.apply(&json!(1)), s.apply(&json!(3)), s.apply(&json!(3.0001)), s.apply(&json!(0.5))), (Some(1.0), Some(1.0), Some(0.0), Some(0.0)));
        let m = t(json!({"type": "value_map", "mapping": {"true": 1, "false": 0.2, "0": 1, "1": 0.75}}));
        assert_eq!((m.apply(&json!(true)), m.apply(&json!(false)), m.apply(&json!(0)), m.apply(&json!(1))), (Some(1.0), Some(0.2), Some(1.0), Some(0.75)));
        assert_eq!(m.apply(&json!("other")), None, "a value not in the map is missing");
        let i = t(json!({"type": "identity"}));
        assert_eq!((i.apply(&json!(0.3)), i.apply(&json!(1.7)), i.apply(&json!("x"))), (Some(0.3), Some(1.0), None));
    }

    #[test]
    fn desirabilities_stay_in_0_1_and_sigmoids_are_monotone() {
        use rand::Rng;
        let mut rng = rand::rng();
        for _ in 0..500 {
            let low: f64 = rng.random_range(-100.0..100.0);
            let high = low + rng.random_range(0.0..50.0);
            let k: f64 = rng.random_range(0.01..2.0);
            let s = Transform::Sigmoid { low, high, k };
            let r = Transform::ReverseSigmoid { low, high, k };
            let d = Transform::DoubleSigmoid {
                low,
                high,
                coef_div: rng.random_range(1.0..200.0),
                coef_si: rng.random_range(1.0..300.0),
                coef_se: rng.random_range(1.0..300.0),
            };
            let mut xs: Vec<f64> = (0..50).map(|_| rng.random_range(-500.0..500.0)).collect();
            xs.sort_by(f64::total_cmp);
            let ys: Vec<f64> = xs.iter().map(|x| s.apply(&json!(x)).unwrap()).collect();
            let rs: Vec<f64> = xs.iter().map(|x| r.apply(&json!(x)).unwrap()).collect();
            assert!(ys.iter().chain(&rs).all(|y| (0.0..=1.0).contains(y)));
            assert!(ys.windows(2).all(|w| w[0] <= w[1]), "sigmoid rises");
            assert!(rs.windows(2).all(|w| w[0] >= w[1]), "reverse sigmoid falls");
            let centre = (high - low) / 2.0 + low;
            let ds: Vec<(f64, f64)> = xs.iter().map(|x| (*x, d.apply(&json!(x)).unwrap())).collect();
            assert!(ds.iter().all(|(_, y)| (0.0..=1.0).contains(y)));
            let left: Vec<f64> = ds.iter().filter(|(x, _)| *x < centre).map(|p| p.1).collect();
            let right: Vec<f64> = ds.iter().filter(|(x, _)| *x >= centre).map(|p| p.1).collect();
            assert!(left.windows(2).all(|w| w[0] <= w[1]) && right.windows(2).all(|w| w[0] >= w[1]), "double sigmoid rises, then falls");
        }
    }

    fn known(p: &str) -> bool {
        locate(p).is_some()
    }

    fn profile(v: Value) -> Profile {
        Profile::parse(&v, &known).unwrap()
    }

    #[test]
    fn paths_name_what_results_carry() {
        assert_eq!(locate("admet.hERG"), Some(("admet", ["properties", "hERG"])));
        assert_eq!(admet_value_position("molecular_weight"), Some(0));
        assert_eq!(admet_value_position("hERG_drugbank_approved_percentile"), Some(ADMET_FIELDS.len() + admet_value_position("hERG").unwrap()));
        assert_eq!(admet_value_position("model"), None);
        let v = admet_values(
            r#"{"model": "m", "properties": {"hERG": 0.25, "AMES": "x", "hERG_drugbank_approved_percentile": 1.0},
                "percentiles": {"hERG_drugbank_approved_percentile": 40.0, "hERG": 2.0}}"#,
        )
        .unwrap();
        let herg = admet_value_position("hERG").unwrap();
        assert_eq!((v.len(), v[herg], v[ADMET_FIELDS.len() + herg], v.iter().flatten().count()), (2 * ADMET_FIELDS.len(), Some(0.25), Some(40.0), 2));
        assert_eq!(admet_values(r#""error""#), None);
        assert_eq!(admet_values(r#"{"properties": null}"#).map(|v| v.iter().flatten().count()), Some(0));
        // Read exactly: serde_json's default parsing lands one ulp off here.
        let text = "0.8750000000000001";
        let exact: f64 = text.parse().unwrap();
        let v = admet_values(&format!(r#"{{"properties": {{"hERG": {text}}}}}"#)).unwrap();
        assert_eq!(v[herg].map(f64::to_bits), Some(exact.to_bits()));
        assert_eq!(locate("admet.hERG_drugbank_approved_percentile"), Some(("admet", ["percentiles", "hERG_drugbank_approved_percentile"])));
        assert_eq!(locate("properties.logp"), Some(("properties", ["logp", ""])));
        assert_eq!(locate("bioactivity.best_pchembl"), Some(("bioactivity", ["best_pchembl", ""])));
        for bad in ["admet.herg", "properties.formula", "logp", "admet.model", "scores.qed", "admet.hERG_percentile"] {
            assert_eq!(locate(bad), None, "{bad}");
        }
        let sections =
            json!({"admet": {"properties": {"hERG": 0.25}, "percentiles": {"hERG_drugbank_approved_percentile": 40.0}}, "properties": {"logp": 1.5}});
        let sections = sections.as_object().unwrap();
        assert_eq!(lookup(sections, "admet.hERG"), Some(json!(0.25)));
        assert_eq!(lookup(sections, "admet.hERG_drugbank_approved_percentile"), Some(json!(40.0)));
        assert_eq!(lookup(sections, "properties.logp"), Some(json!(1.5)));
        assert_eq!(lookup(sections, "pubchem.xlogp"), None);
    }

    #[test]
    fn bad_profiles_are_refused_naming_the_objective_and_the_fault() {
        let refused = |v: Value| Profile::parse(&v, &known).unwrap_err();
        let e = refused(json!({"objectives": [{"name": "herg", "value": "admet.HERG", "transform": {"type": "identity"}}]}));
        assert_eq!(e.objective.as_deref(), Some("herg"));
        assert!(e.reason.contains("unknown value path"), "{e}");
        let e = refused(json!({"objectives": [{"name": "logp", "value": "properties.logp", "transform": {"type": "sigmoid", "low": 5, "high": 1, "k": 0.5}}]}));
        assert!(e.to_string().starts_with("objective \"logp\": ") && e.reason.contains("below low"), "{e}");
        let e = refused(json!({"objectives": [{"name": "logp", "value": "properties.logp", "transform": {"type": "sigmoid", "low": 1, "high": 5}}]}));
        assert!(e.reason.contains("needs \"k\""), "{e}");
        let e = refused(json!({"objectives": [{"name": "a", "value": "properties.qed", "transform": {"type": "identity"}, "weight": 0}]}));
        assert!(e.objective.is_none() && e.reason.contains("sum to 0"), "{e}");
        let e = refused(json!({"method": "best", "objectives": []}));
        assert!(e.reason.contains("unknown method"), "{e}");
        let e = refused(json!({"objectives": [{"name": "m", "value": "pubchem.found", "transform": {"type": "value_map", "mapping": {"true": 2}}}]}));
        assert!(e.reason.contains("not a desirability"), "{e}");
        let e = refused(json!({"objectives": [{"name": "q", "value": "properties.qed", "transform": {"type": "identity"}, "wieght": 2}]}));
        assert!(e.reason.contains("no field \"wieght\""), "{e}");
        let e = refused(json!({"objectives": [{"name": "q", "value": "properties.qed", "transform": {"type": "identity"}, "on_missing": "ignore"}]}));
        assert!(e.reason.contains("on_missing"), "{e}");
    }

    #[test]
    fn means_weigh_desirabilities_and_missing_values_follow_on_missing() {
        let p = profile(json!({"method": "weighted_mean", "objectives": [
            {"name": "qed", "value": "properties.qed", "transform": {"type": "identity"}, "weight": 1},
            {"name": "safe", "value": "admet.hERG", "transform": {"type": "value_map", "mapping": {"0.0": 1}}, "weight": 3},
            {"name": "pchembl", "value": "bioactivity.best_pchembl", "transform": {"type": "step", "low": 6, "high": 14}, "weight": 2},
        ]}));
        let sections = json!({"properties": {"qed": 0.5}, "admet": {"properties": {"hERG": 0.0}}});
        let s = p.score(&|path| lookup(sections.as_object().unwrap(), path));
        // bioactivity is missing and skipped: (0.5·1 + 1·3) / 4.
        assert_eq!(s.final_score, Some(0.875));
        assert_eq!(s.parts[2].desirability, None);
        assert_eq!(s.parts[0].raw, Some(json!(0.5)));

        let mut zero = p.clone();
        zero.objectives[2].on_missing = OnMissing::Zero;
        assert_eq!(zero.score(&|path| lookup(sections.as_object().unwrap(), path)).final_score, Some(3.5 / 6.0));
        let mut unranked = p.clone();
        unranked.objectives[2].on_missing = OnMissing::Unranked;
        assert_eq!(unranked.score(&|path| lookup(sections.as_object().unwrap(), path)).final_score, None);

        let g = profile(json!({"method": "geometric_mean", "objectives": [
            {"name": "a", "value": "properties.qed", "transform": {"type": "identity"}},
            {"name": "b", "value": "properties.fraction_csp3", "transform": {"type": "identity"}},
        ]}));
        let at = |qed: f64, f: f64| {
            let v = json!({"properties": {"qed": qed, "fraction_csp3": f}});
            g.score(&|path| lookup(v.as_object().unwrap(), path)).final_score.unwrap()
        };
        assert!((at(0.25, 1.0) - 0.5).abs() < 1e-12);
        assert_eq!(at(0.0, 1.0), 0.0, "no floor: a zero makes the score zero");
    }

    #[test]
    fn pareto_fronts_on_a_small_example() {
        let pts = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, 0.5], vec![0.4, 0.4], vec![0.1, 0.1], vec![0.5, 0.5], vec![0.1, 0.2]];
        assert_eq!(pareto_fronts(&pts), vec![1, 1, 1, 2, 4, 1, 3]);
    }

    #[test]
    fn no_compound_is_dominated_by_one_in_its_front_or_a_later_one() {
        use rand::Rng;
        let mut rng = rand::rng();
        let dominates = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y);
        for dims in [2, 3, 5] {
            // Coarse values, so ties and duplicates happen.
            let pts: Vec<Vec<f64>> = (0..300).map(|_| (0..dims).map(|_| f64::from(rng.random_range(0..8u8)) / 8.0).collect()).collect();
            let fronts = pareto_fronts(&pts);
            for (i, p) in pts.iter().enumerate() {
                for (j, q) in pts.iter().enumerate() {
                    if fronts[j] >= fronts[i] {
                        assert!(!dominates(q, p), "{q:?} (front {}) dominates {p:?} (front {})", fronts[j], fronts[i]);
                    }
                }
                if fronts[i] > 1 {
                    assert!(pts.iter().zip(&fronts).any(|(q, &f)| f == fronts[i] - 1 && dominates(q, p)), "front {} of {p:?} is not earned", fronts[i]);
                }
            }
        }
    }

    #[test]
    fn ties_share_a_rank_and_the_next_skips_and_the_unranked_come_last() {
        let keys = [Some(1.0), Some(0.8), Some(0.8), Some(0.5), None];
        let ranks = competition_ranks(&keys, |a: &f64, b: &f64| b.total_cmp(a));
        assert_eq!(ranks, vec![Some(1), Some(2), Some(2), Some(4), None]);
        // Pareto: front first, then the score within it.
        let keys = [Some((2, 0.9)), Some((1, 0.1)), Some((1, 0.5)), Some((2, 0.9))];
        let ranks = competition_ranks(&keys, |a: &(u32, f64), b: &(u32, f64)| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        assert_eq!(ranks, vec![Some(3), Some(2), Some(1), Some(3)]);
    }

    #[test]
    fn every_built_in_profile_is_valid_and_reads_back_as_written() {
        let all = builtins();
        assert!(all.iter().any(|b| b.name == DEFAULT_PROFILE));
        for b in &all {
            let p = Profile::parse(&b.profile, &known_path).unwrap_or_else(|e| panic!("{}: {e}", b.name));
            assert_eq!(Profile::parse(&p.to_json(), &known_path).as_ref(), Ok(&p), "{}", b.name);
            assert_eq!(resolve(&json!(b.name)).map(|(n, q)| (n, q == p)), Ok((Some(b.name), true)));
        }
        let e = resolve(&json!("cnss")).unwrap_err();
        assert!(e.reason.contains("no built-in profile \"cnss\"") && e.reason.contains("lead_like"), "{e}");
    }

    #[test]
    fn the_default_scores_drug_likeness_with_a_quarter_weight_per_toxicity_endpoint() {
        let p = default_profile();
        // rdkit_local only: the ADMET objectives are left out.
        let v = json!({"properties": {"qed": 0.6, "lipinski_violations": 1}});
        let s = p.score(&|path| lookup(v.as_object().unwrap(), path));
        close(s.final_score, (0.6 + 0.75) / 2.0);
        assert_eq!(s.desirabilities()["hERG"], Value::Null);
        // Every toxicity probability at 0.5 is worth 0.5.
        let v = json!({"properties": {"qed": 0.6, "lipinski_violations": 0},
                       "admet": {"properties": {"AMES": 0.5, "hERG": 0.5, "DILI": 0.5, "ClinTox": 0.5}}});
        let s = p.score(&|path| lookup(v.as_object().unwrap(), path));
        close(s.final_score, (0.6 + 1.0 + 4.0 * 0.25 * 0.5) / 3.0);
    }

    #[test]
    fn placements_rank_by_score_or_by_front_and_keep_an_order_for_ties() {
        let c = |s: Option<f64>, d: &[f64]| (s, d.iter().map(|&x| Some(x)).collect::<Vec<_>>());
        let compounds = vec![c(Some(0.5), &[0.5, 0.5]), c(Some(0.9), &[0.9, 0.9]), c(None, &[0.1, 0.1]), c(Some(0.5), &[1.0, 0.0]), c(Some(0.2), &[0.0, 0.4])];
        let by_score = place(Method::WeightedMean, &compounds);
        let got: Vec<_> = by_score.iter().map(|p| (p.rank, p.order, p.front)).collect();
        assert_eq!(got, vec![(Some(2), Some(2), None), (Some(1), Some(1), None), (None, None, None), (Some(2), Some(3), None), (Some(4), Some(4), None)]);
        // Pareto: [0.9, 0.9] dominates [0.5, 0.5] and [0.0, 0.4], not [1.0, 0.0];
        // [0.5, 0.5] dominates [0.0, 0.4].
        let pareto = place(Method::Pareto, &compounds);
        let got: Vec<_> = pareto.iter().map(|p| (p.rank, p.front)).collect();
        assert_eq!(got, vec![(Some(3), Some(2)), (Some(1), Some(1)), (None, None), (Some(2), Some(1)), (Some(4), Some(3))]);
    }
}
