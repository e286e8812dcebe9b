//! The chembl adapter: the `bioactivity` section from the ChEMBL web services.
//!
//! Per batch of compounds (requests are shared through `__in` filters):
//! 1. the molecules by InChIKey (from rdkit_local): `GET /molecule.json?
//!    molecule_structures__standard_inchi_key__in=K1,K2,...` (one compound
//!    alone: `GET /molecule/{inchikey}.json`, whose 404 has an empty body and is
//!    a not-found, never retried);
//! 2. compounds not found that way: `molecule_structures__canonical_smiles__flexmatch`
//!    (one request each; `CHEMBL_FLEXMATCH=false` turns it off);
//! 3. their activities: `GET /activity.json?molecule_chembl_id__in=...&limit=1000&only=...`,
//!    following `page_meta.next` up to `CHEMBL_MAX_ACTIVITY_PAGES` pages per batch
//!    (beyond it the section says `truncated: true`);
//! 4. the ChEMBL release, once per process, from `/status.json`.
//!
//! Every URL ends in `.json` (ChEMBL's default is XML). The shared rate limit,
//! retries through JetStream (`CHEMBL_MAX_ATTEMPTS`) and the cache by InChIKey
//! are `pharmforge_webclient`'s.

use pharmforge_core::config::{env_parse, ConfigError, EnvVar};
use pharmforge_core::AdapterName;
use pharmforge_webclient::{lenient, Compound, FetchError, Fetched, ServiceInfo, WebAdapter, WebClient, WebService};
use serde::{Deserialize, Serialize};
use serde_json::Number;
use std::cmp::Ordering::Equal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const DEFAULT_BASE_URL: &str = "https://www.ebi.ac.uk/chembl/api/data";

/// The activity fields asked for (`only=`).
pub const ACTIVITY_FIELDS: &str = "activity_id,molecule_chembl_id,assay_chembl_id,assay_type,target_chembl_id,target_pref_name,target_organism,standard_type,standard_relation,standard_value,standard_units,pchembl_value";

/// The adapter as the runtime runs it.
pub type ChemblAdapter = WebAdapter<Chembl>;

/// One activity as ChEMBL sends it (decimals as strings) and as a section
/// lists it (without the molecule and the organism, said elsewhere).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Activity {
    #[serde(deserialize_with = "lenient::number")]
    pub activity_id: Option<Number>,
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub molecule_chembl_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub assay_chembl_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub assay_type: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub target_chembl_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub target_pref_name: Option<String>,
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub target_organism: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub standard_type: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub standard_relation: Option<String>,
    #[serde(deserialize_with = "lenient::float")]
    pub standard_value: Option<f64>,
    #[serde(deserialize_with = "lenient::text")]
    pub standard_units: Option<String>,
    #[serde(deserialize_with = "lenient::float")]
    pub pchembl_value: Option<f64>,
}

/// What a molecule's activities say of one target.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    pub target_chembl_id: String,
    pub pref_name: Option<String>,
    pub organism: Option<String>,
    pub best_pchembl: Option<f64>,
    /// Activities on this target.
    pub n: usize,
}

/// The `bioactivity` section.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BioactivitySection {
    pub found: bool,
    pub molecule_chembl_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub num_activities: usize,
    pub num_targets: usize,
    pub assay_types: BTreeSet<String>,
    /// The lowest exact (`=`) IC50 and Ki in nM.
    pub best_ic50_nm: Option<f64>,
    pub best_ki_nm: Option<f64>,
    pub best_pchembl: Option<f64>,
    /// The ten targets with the best pChEMBL (then the most activities).
    pub targets: Vec<Target>,
    /// Up to `CHEMBL_MAX_ACTIVITIES`, most potent first.
    pub activities: Vec<Activity>,
    /// The page cap cut this molecule's activities short.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub chembl_release: Option<String>,
}

impl BioactivitySection {
    /// The section of a molecule from its activities.
    pub fn from_activities(chembl_id: &str, mut activities: Vec<Activity>, max_activities: usize, truncated: bool) -> Self {
        let mut s = Self { found: true, molecule_chembl_id: Some(chembl_id.to_owned()), num_activities: activities.len(), truncated, ..Self::default() };
        // The lowest exact value in nM of a type (no relation said is `=`).
        let best_nm = |kind: &str| {
            let exact = |a: &&Activity| matches!(a.standard_relation.as_deref(), Some("=") | None) && a.standard_units.as_deref() == Some("nM");
            activities.iter().filter(|a| a.standard_type.as_deref() == Some(kind)).filter(exact).filter_map(|a| a.standard_value).reduce(f64::min)
        };
        (s.best_ic50_nm, s.best_ki_nm) = (best_nm("IC50"), best_nm("Ki"));
        s.best_pchembl = activities.iter().filter_map(|a| a.pchembl_value).reduce(f64::max);
        s.assay_types = activities.iter().filter_map(|a| a.assay_type.clone()).collect();
        let mut targets: BTreeMap<&str, Target> = BTreeMap::new();
        for a in &activities {
            let Some(id) = &a.target_chembl_id else { continue };
            let (pref_name, organism) = (&a.target_pref_name, &a.target_organism);
            let target = targets.entry(id).or_insert_with(|| Target {
                target_chembl_id: id.clone(),
                pref_name: pref_name.clone(),
                organism: organism.clone(),
                best_pchembl: None,
                n: 0,
            });
            target.n += 1;
            target.best_pchembl = target.best_pchembl.into_iter().chain(a.pchembl_value).reduce(f64::max);
        }
        s.num_targets = targets.len();
        s.targets = targets.into_values().collect();
        // Larger first (`desc`) or smaller first (`asc`), a value before none either way.
        let desc = |a: Option<f64>, b: Option<f64>| b.partial_cmp(&a).unwrap_or(Equal);
        let asc = |a: Option<f64>, b: Option<f64>| (a.is_none(), a).partial_cmp(&(b.is_none(), b)).unwrap_or(Equal);
        s.targets.sort_by(|a, b| desc(a.best_pchembl, b.best_pchembl).then(b.n.cmp(&a.n)).then(a.target_chembl_id.cmp(&b.target_chembl_id)));
        s.targets.truncate(10);
        activities.sort_by(|a, b| desc(a.pchembl_value, b.pchembl_value).then_with(|| asc(a.standard_value, b.standard_value)));
        activities.truncate(max_activities);
        s.activities = activities;
        s
    }

    pub fn not_found() -> Self {
        Self { note: Some("not in ChEMBL".into()), ..Self::default() }
    }
}

/// What is read of ChEMBL's answers; anything missing is empty.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Molecule {
    #[serde(deserialize_with = "lenient::text")]
    molecule_chembl_id: Option<String>,
    molecule_structures: Option<Structures>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Structures {
    #[serde(deserialize_with = "lenient::text")]
    standard_inchi_key: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Molecules {
    molecules: Vec<Molecule>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActivityPage {
    activities: Vec<Activity>,
    page_meta: PageMeta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageMeta {
    #[serde(deserialize_with = "lenient::text")]
    next: Option<String>,
}

/// ChEMBL: requests shared by a batch through `__in` filters.
pub struct Chembl {
    /// `CHEMBL_MAX_ACTIVITY_PAGES`: pages of 1,000 activities read per request.
    pub max_pages: usize,
    /// `CHEMBL_MAX_ACTIVITIES`: activities kept in a section, most potent first.
    pub max_activities: usize,
    /// `CHEMBL_FLEXMATCH`: look up by SMILES when the InChIKey finds nothing.
    pub flexmatch: bool,
    /// The release, asked until it is known, then kept for the process.
    release: std::sync::OnceLock<String>,
}

impl Chembl {
    pub fn new(max_pages: usize, max_activities: usize, flexmatch: bool) -> Self {
        Chembl { max_pages: max_pages.max(1), max_activities, flexmatch, release: std::sync::OnceLock::new() }
    }

    async fn release(&self, client: &WebClient) -> Option<String> {
        if self.release.get().is_none() {
            let status = client.get_json::<serde_json::Value>(client.url(&["status.json"], &[]).ok()?).await.ok().flatten()?;
            let _ = self.release.set(status.get("chembl_db_version")?.as_str()?.to_owned());
        }
        self.release.get().cloned()
    }

    /// InChIKey → molecule_chembl_id for those ChEMBL has.
    async fn molecules_by_inchikey(&self, client: &WebClient, keys: &[&str]) -> Result<HashMap<String, String>, FetchError> {
        let mut out = HashMap::new();
        if let [key] = keys {
            let found = client.get_json::<Molecule>(client.url(&["molecule", &format!("{key}.json")], &[])?).await?;
            out.extend(found.and_then(|m| m.molecule_chembl_id).map(|id| (key.to_string(), id)));
            return Ok(out);
        }
        for chunk in keys.chunks(50) {
            let keys = chunk.join(",");
            let query = [("molecule_structures__standard_inchi_key__in", keys.as_str()), ("only", "molecule_chembl_id,molecule_structures"), ("limit", "1000")];
            for m in client.get_json::<Molecules>(client.url(&["molecule.json"], &query)?).await?.unwrap_or_default().molecules {
                if let (Some(id), Some(key)) = (m.molecule_chembl_id, m.molecule_structures.and_then(|s| s.standard_inchi_key)) {
                    out.entry(key).or_insert(id);
                }
            }
        }
        Ok(out)
    }

    /// The molecule whose structure flex-matches a SMILES, if any.
    async fn molecule_by_smiles(&self, client: &WebClient, smiles: &str) -> Result<Option<String>, FetchError> {
        let query = [("molecule_structures__canonical_smiles__flexmatch", smiles), ("only", "molecule_chembl_id"), ("limit", "1")];
        let page = client.get_json::<Molecules>(client.url(&["molecule.json"], &query)?).await?.unwrap_or_default();
        Ok(page.molecules.into_iter().next().and_then(|m| m.molecule_chembl_id))
    }

    /// Activities of these molecules, following `page_meta.next` up to the
    /// page cap; `true` when the cap cut them short.
    async fn activities(&self, client: &WebClient, ids: &[String]) -> Result<(Vec<Activity>, bool), FetchError> {
        let ids = ids.join(",");
        let mut url = client.url(&["activity.json"], &[("molecule_chembl_id__in", &ids), ("limit", "1000"), ("only", ACTIVITY_FIELDS)])?;
        let mut out = Vec::new();
        for _ in 0..self.max_pages {
            let Some(page) = client.get_json::<ActivityPage>(url).await? else { return Ok((out, false)) };
            out.extend(page.activities);
            match page.page_meta.next.filter(|n| !n.is_empty()) {
                Some(next) => url = client.join(&next)?,
                None => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }

    /// Each molecule's activities and whether the page cap cut them short.
    /// One request (and its pages) for the whole batch; if the cap cuts that
    /// short, the molecules are asked one by one, so the cap (and the
    /// `truncated` flag on a section, cached for days) is a molecule's own,
    /// never its batch neighbours'.
    async fn activities_per_molecule(&self, client: &WebClient, ids: &[String]) -> Result<HashMap<String, (Vec<Activity>, bool)>, FetchError> {
        let (all, truncated) = if ids.is_empty() { Default::default() } else { self.activities(client, ids).await? };
        let mut out: HashMap<String, (Vec<Activity>, bool)> = ids.iter().map(|id| (id.clone(), (Vec::new(), truncated))).collect();
        if truncated && ids.len() > 1 {
            for id in ids {
                out.insert(id.clone(), self.activities(client, std::slice::from_ref(id)).await?);
            }
            return Ok(out);
        }
        for a in all {
            if let Some((list, _)) = a.molecule_chembl_id.as_ref().and_then(|m| out.get_mut(m)) {
                list.push(a);
            }
        }
        Ok(out)
    }
}

impl WebService for Chembl {
    const INFO: ServiceInfo = ServiceInfo { adapter: AdapterName::Chembl, prefix: "CHEMBL", label: "ChEMBL", base_url: DEFAULT_BASE_URL, per_minute: 300 };

    fn from_env() -> Result<Self, ConfigError> {
        Ok(Chembl::new(env_parse("CHEMBL_MAX_ACTIVITY_PAGES", 10)?, env_parse("CHEMBL_MAX_ACTIVITIES", 50)?, env_parse("CHEMBL_FLEXMATCH", true)?))
    }

    fn vars() -> Vec<EnvVar> {
        vec![
            EnvVar::new("CHEMBL_MAX_ACTIVITY_PAGES", 10, "pages of activities read per compound at most"),
            EnvVar::new("CHEMBL_MAX_ACTIVITIES", 50, "activities kept per compound, most potent first"),
            EnvVar::new("CHEMBL_FLEXMATCH", true, "look a compound up by its SMILES (flexmatch) when its InChIKey finds nothing"),
        ]
    }

    fn provenance(&self, client: &WebClient) -> String {
        let release = self.release.get().cloned().unwrap_or_else(|| "release unknown".into());
        format!("chembl {} ({release}, {})", env!("CARGO_PKG_VERSION"), client.settings().base_url)
    }

    /// A failed request the batch shares (the InChIKey lookup, the
    /// activities) is every compound's error; a compound's own lookup
    /// (flexmatch by SMILES) that fails is only that compound's.
    async fn fetch(&self, client: &WebClient, compounds: &[Compound<'_>]) -> Result<Vec<Result<Fetched, FetchError>>, FetchError> {
        let keys: Vec<&str> = compounds.iter().filter_map(|c| c.inchikey).collect::<BTreeSet<_>>().into_iter().collect();
        let by_key = if keys.is_empty() { HashMap::new() } else { self.molecules_by_inchikey(client, &keys).await? };
        let mut ids = Vec::with_capacity(compounds.len());
        for c in compounds {
            ids.push(match c.inchikey.and_then(|k| by_key.get(k)) {
                Some(id) => Ok(Some(id.clone())),
                None if self.flexmatch => self.molecule_by_smiles(client, &c.record.smiles).await,
                None => Ok(None),
            });
        }
        let wanted: Vec<String> = ids.iter().flatten().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let per_molecule = self.activities_per_molecule(client, &wanted).await?;
        let release = self.release(client).await;
        let section = |id: Option<String>| {
            let mut s = match id {
                Some(id) => {
                    // Copied, not taken: a molecule may be more than one compound of the batch.
                    let (activities, truncated) = per_molecule.get(&id).cloned().unwrap_or_default();
                    BioactivitySection::from_activities(&id, activities, self.max_activities, truncated)
                }
                None => BioactivitySection::not_found(),
            };
            s.chembl_release = release.clone();
            Fetched::new(s, true)
        };
        Ok(ids.into_iter().map(|id| id.map(section)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn section_reads_string_decimals_and_ranks_targets_and_activities() {
        let acts: Vec<Activity> = serde_json::from_value(json!([
            {"activity_id": 1, "assay_type": "B", "target_chembl_id": "CHEMBL1", "target_pref_name": "A", "target_organism": "Homo sapiens",
             "standard_type": "IC50", "standard_relation": "=", "standard_value": "120.0", "standard_units": "nM", "pchembl_value": "6.92"},
            {"activity_id": 2, "assay_type": "F", "target_chembl_id": "CHEMBL2", "target_pref_name": "B", "target_organism": null,
             "standard_type": "Ki", "standard_relation": "=", "standard_value": "5", "standard_units": "nM", "pchembl_value": "8.30"},
            {"activity_id": 3, "assay_type": "B", "target_chembl_id": "CHEMBL1", "target_pref_name": "A", "target_organism": "Homo sapiens",
             "standard_type": "IC50", "standard_relation": ">", "standard_value": "10", "standard_units": "nM", "pchembl_value": null},
            {"activity_id": 4, "assay_type": "A", "target_chembl_id": null, "standard_type": "Solubility", "standard_value": null, "pchembl_value": null}
        ]))
        .unwrap();
        let s = serde_json::to_value(BioactivitySection::from_activities("CHEMBL25", acts, 3, false)).unwrap();
        assert_eq!(s["num_activities"], 4);
        assert_eq!(s["num_targets"], 2);
        assert_eq!(s["assay_types"], json!(["A", "B", "F"]));
        assert_eq!(s["best_ic50_nm"], 120.0, "a '>' relation is not a measured best");
        assert_eq!(s["best_ki_nm"], 5.0);
        assert_eq!(s["best_pchembl"], 8.3);
        assert_eq!(s["targets"][0]["target_chembl_id"], "CHEMBL2");
        assert_eq!(s["targets"][1]["n"], 2);
        assert_eq!(s["activities"].as_array().unwrap().len(), 3);
        assert_eq!(s["activities"][0]["activity_id"], 2);
        // A pChEMBL before none; then by value, smallest first.
        assert_eq!(s["activities"][1]["activity_id"], 1);
        assert_eq!(s["activities"][2]["activity_id"], 3);
        assert!(s["activities"][0].get("target_organism").is_none() && s.get("truncated").is_none(), "{s}");
    }

    #[test]
    fn a_not_found_section_has_every_field_empty() {
        let s = serde_json::to_value(BioactivitySection::not_found()).unwrap();
        assert_eq!(
            s,
            json!({"found": false, "molecule_chembl_id": null, "note": "not in ChEMBL", "num_activities": 0, "num_targets": 0, "assay_types": [],
                   "best_ic50_nm": null, "best_ki_nm": null, "best_pchembl": null, "targets": [], "activities": [], "chembl_release": null})
        );
    }
}
