//! The pubchem adapter: the `pubchem` section (CID, IUPAC name, formula,
//! weights, XLogP, TPSA, H-bond and rotatable-bond counts, SMILES, InChI,
//! InChIKey, synonyms when configured) from PubChem PUG-REST, one request per
//! compound. A valid SMILES PubChem does not know (CID 0, or a
//! `PUGREST.NotFound` fault) is a result, `found: false`, not an error. The
//! rate limit shared by the replicas, PubChem's `X-Throttling-Control`,
//! retries through JetStream (`PUBCHEM_MAX_ATTEMPTS`) and the cache by
//! InChIKey are `pharmforge_webclient`'s; an answer for another structure
//! than RDKit read (PubChem standardizes its input) is flagged
//! `structure_match: false` and never cached.

use pharmforge_core::config::{env_parse, ConfigError, EnvVar};
use pharmforge_core::AdapterName;
use pharmforge_webclient::{lenient, Answer, Compound, FetchError, Fetched, ServiceInfo, WebAdapter, WebClient, WebService};
use serde::{Deserialize, Serialize};
use serde_json::Number;

pub const DEFAULT_BASE_URL: &str = "https://pubchem.ncbi.nlm.nih.gov/rest/pug";

/// The properties asked for, in PUG-REST's names.
pub const PROPERTIES: &str =
    "MolecularFormula,MolecularWeight,SMILES,ConnectivitySMILES,InChI,InChIKey,IUPACName,XLogP,TPSA,HBondDonorCount,HBondAcceptorCount,RotatableBondCount";

/// The adapter as the runtime runs it.
pub type PubchemAdapter = WebAdapter<Pubchem>;

/// The `pubchem` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PubchemSection {
    pub found: bool,
    pub cid: Option<i64>,
    /// What PubChem has on a found compound.
    #[serde(flatten)]
    pub properties: Option<Properties>,
    /// `false` when PubChem read the SMILES as another structure than RDKit did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structure_match: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PubchemSection {
    /// A structure PubChem does not have.
    pub fn not_found() -> Self {
        PubchemSection { found: false, cid: None, properties: None, structure_match: None, note: Some("not in PubChem".into()) }
    }
}

/// A found compound's properties, read from a row of PUG-REST's
/// `PropertyTable` (under its names) and written under ours; absent ones are
/// null. Numbers are kept as sent (counts stay integers; weights come as
/// strings). Since 2025 the SMILES are `SMILES` and `ConnectivitySMILES`;
/// older answers said `IsomericSMILES` and `CanonicalSMILES`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Properties {
    #[serde(rename(deserialize = "IUPACName"), deserialize_with = "lenient::text")]
    pub iupac_name: Option<String>,
    #[serde(rename(deserialize = "MolecularFormula"), deserialize_with = "lenient::text")]
    pub formula: Option<String>,
    #[serde(rename(deserialize = "MolecularWeight"), deserialize_with = "lenient::number")]
    pub molecular_weight: Option<Number>,
    #[serde(rename(deserialize = "XLogP"), deserialize_with = "lenient::number")]
    pub xlogp: Option<Number>,
    #[serde(rename(deserialize = "TPSA"), deserialize_with = "lenient::number")]
    pub tpsa: Option<Number>,
    #[serde(rename(deserialize = "HBondDonorCount"), deserialize_with = "lenient::number")]
    pub h_bond_donors: Option<Number>,
    #[serde(rename(deserialize = "HBondAcceptorCount"), deserialize_with = "lenient::number")]
    pub h_bond_acceptors: Option<Number>,
    #[serde(rename(deserialize = "RotatableBondCount"), deserialize_with = "lenient::number")]
    pub rotatable_bonds: Option<Number>,
    #[serde(rename(deserialize = "SMILES"), alias = "IsomericSMILES", deserialize_with = "lenient::text")]
    pub smiles: Option<String>,
    #[serde(rename(deserialize = "ConnectivitySMILES"), alias = "CanonicalSMILES", deserialize_with = "lenient::text")]
    pub connectivity_smiles: Option<String>,
    #[serde(rename(deserialize = "InChI"), deserialize_with = "lenient::text")]
    pub inchi: Option<String>,
    #[serde(rename(deserialize = "InChIKey"), deserialize_with = "lenient::text")]
    pub inchikey: Option<String>,
    /// Up to `PUBCHEM_SYNONYMS`; null when their request failed (then `synonyms_error` says why).
    #[serde(skip_deserializing)]
    pub synonyms: Option<Vec<String>>,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub synonyms_error: Option<String>,
}

/// A row of the `PropertyTable`: the CID and the properties.
#[derive(Debug, Deserialize)]
pub struct Row {
    #[serde(rename = "CID", default, deserialize_with = "lenient::number")]
    pub cid: Option<Number>,
    #[serde(flatten)]
    pub properties: Properties,
}

impl Row {
    pub fn cid(&self) -> i64 {
        self.cid.as_ref().and_then(Number::as_i64).unwrap_or(0)
    }

    /// The section of a found compound.
    pub fn section(self, synonyms: Option<Vec<String>>) -> PubchemSection {
        let cid = Some(self.cid());
        let properties = Some(Properties { synonyms, ..self.properties });
        PubchemSection { found: true, cid, properties, structure_match: None, note: None }
    }
}

/// PUG-REST's error body: `{"Fault": {"Code", "Message", "Details"}}`.
#[derive(Deserialize)]
struct FaultAnswer {
    #[serde(rename = "Fault")]
    fault: Fault,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Fault {
    code: String,
    message: String,
    details: Vec<String>,
}

/// PubChem: one request per compound (two with synonyms).
pub struct Pubchem {
    /// `PUBCHEM_SYNONYMS`: how many synonyms to fetch; more than 0 costs a
    /// second request per found compound.
    pub synonyms: usize,
}

/// Reads a failed answer ([`WebClient::json`]): `Ok(())` for a not-found, otherwise the error.
fn fault(answer: &Answer) -> Result<(), FetchError> {
    let fault = serde_json::from_str::<FaultAnswer>(&answer.body).ok().map(|f| f.fault);
    if answer.status == 404 || fault.as_ref().is_some_and(|f| f.code == "PUGREST.NotFound") {
        return Ok(());
    }
    let detail = match fault {
        Some(f) => {
            let code = if f.code.is_empty() { "?" } else { &f.code };
            match f.details.first() {
                Some(d) => format!("{code} {} ({d})", f.message),
                None => format!("{code} {}", f.message),
            }
        }
        None => answer.describe_body(),
    };
    Err(answer.error("PubChem", &detail))
}

impl Pubchem {
    /// The properties of one SMILES: `Ok(None)` when PubChem does not know it
    /// (CID 0 for a valid structure it does not have, or a not-found fault).
    pub async fn properties(&self, client: &WebClient, smiles: &str) -> Result<Option<Row>, FetchError> {
        // In a form body: a SMILES in a URL path breaks on `/`, `#`, `\`.
        let url = format!("{}/compound/smiles/property/{PROPERTIES}/JSON", client.settings().base_url);
        let Some(mut table) = client.json::<serde_json::Value>(client.http().post(url).form(&[("smiles", smiles)]), "", fault).await? else { return Ok(None) };
        let row = table.pointer_mut("/PropertyTable/Properties/0").map(serde_json::Value::take);
        let row = row.ok_or_else(|| FetchError::Permanent("PubChem answered 200 without a PropertyTable".into()))?;
        let row: Row = serde_json::from_value(row).map_err(|e| FetchError::Permanent(format!("PubChem answered 200 with an unreadable row: {e}")))?;
        // CID 0: a valid structure PubChem does not have.
        Ok((row.cid() > 0).then_some(row))
    }

    /// Up to `n` synonyms of a CID. A CID without synonyms (404 /
    /// `PUGREST.NotFound`) has none; any other failure is an error.
    pub async fn synonyms(&self, client: &WebClient, cid: i64, n: usize) -> Result<Vec<String>, FetchError> {
        let url = format!("{}/compound/cid/{cid}/synonyms/JSON", client.settings().base_url);
        let what = format!(" for the synonyms of CID {cid}");
        let Some(mut list) = client.json::<serde_json::Value>(client.http().get(url), &what, fault).await? else { return Ok(Vec::new()) };
        let synonyms = list.pointer_mut("/InformationList/Information/0/Synonym").map(serde_json::Value::take);
        let synonyms: Option<Vec<String>> = synonyms.and_then(|s| serde_json::from_value(s).ok());
        let synonyms = synonyms.ok_or_else(|| FetchError::Permanent(format!("PubChem answered 200 without synonyms{what}")))?;
        Ok(synonyms.into_iter().take(n).collect())
    }

    /// One compound's section. A failed synonyms request does not cost the
    /// compound its properties: the section says what is missing and why, and
    /// is not cached, so the next run asks again.
    async fn lookup(&self, client: &WebClient, compound: &Compound<'_>) -> Result<Fetched, FetchError> {
        let Some(found) = self.properties(client, &compound.record.smiles).await? else {
            return Ok(Fetched::new(PubchemSection::not_found(), true));
        };
        let cid = found.cid();
        let (mut section, mut cacheable) = match self.synonyms {
            0 => (found.section(Some(Vec::new())), true),
            n => match self.synonyms(client, cid, n).await {
                Ok(list) => (found.section(Some(list)), true),
                Err(e) => {
                    let mut section = found.section(None);
                    section.properties.as_mut().expect("a found section").synonyms_error = Some(format!("synonyms not retrieved: {e}"));
                    (section, false)
                }
            },
        };
        // PubChem standardizes what it is given (tautomers, charges) and may
        // answer for another structure than the one RDKit read: that answer
        // is kept for this compound but not cached under RDKit's key, where
        // it would answer for the wrong structure for days.
        let theirs = section.properties.as_ref().and_then(|p| p.inchikey.clone());
        if let (Some(ours), Some(theirs)) = (compound.inchikey, theirs) {
            if ours != theirs {
                cacheable = false;
                section.structure_match = Some(false);
                section.note = Some(format!("PubChem read this SMILES as another structure (InChIKey {theirs}; RDKit's is {ours})"));
            }
        }
        Ok(Fetched::new(section, cacheable))
    }
}

impl WebService for Pubchem {
    const INFO: ServiceInfo = ServiceInfo { adapter: AdapterName::Pubchem, prefix: "PUBCHEM", label: "PubChem", base_url: DEFAULT_BASE_URL, per_minute: 400 };

    fn from_env() -> Result<Self, ConfigError> {
        Ok(Pubchem { synonyms: env_parse("PUBCHEM_SYNONYMS", 0)? })
    }

    fn vars() -> Vec<EnvVar> {
        vec![EnvVar::new("PUBCHEM_SYNONYMS", 0, "synonyms fetched per found compound (more than 0 costs a second request)")]
    }

    fn provenance(&self, client: &WebClient) -> String {
        format!("pubchem {} (PUG-REST {})", env!("CARGO_PKG_VERSION"), client.settings().base_url)
    }

    async fn fetch(&self, client: &WebClient, compounds: &[Compound<'_>]) -> Result<Vec<Result<Fetched, FetchError>>, FetchError> {
        Ok(futures::future::join_all(compounds.iter().map(|c| self.lookup(client, c))).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn properties_are_read_from_strings_and_new_keys() {
        let p: Row = serde_json::from_value(json!({
            "CID": 2244, "MolecularFormula": "C9H8O4", "MolecularWeight": "180.16",
            "SMILES": "CC(=O)OC1=CC=CC=C1C(=O)O", "ConnectivitySMILES": "CC(=O)OC1=CC=CC=C1C(=O)O",
            "InChIKey": "BSYNRYMUTXBXSQ-UHFFFAOYSA-N", "TPSA": 63.6, "HBondDonorCount": 1, "IUPACName": 7
        }))
        .unwrap();
        let s = serde_json::to_value(p.section(Some(vec![]))).unwrap();
        assert_eq!(s["cid"], 2244);
        assert_eq!(s["molecular_weight"], 180.16);
        assert_eq!(s["h_bond_donors"], 1, "a count stays an integer");
        assert_eq!(s["connectivity_smiles"], "CC(=O)OC1=CC=CC=C1C(=O)O");
        assert_eq!(s["xlogp"], Value::Null, "an absent property is null");
        assert_eq!(s["iupac_name"], Value::Null, "a property of the wrong type is null");
        assert!(s.get("structure_match").is_none() && s.get("synonyms_error").is_none(), "{s}");
    }

    #[test]
    fn old_smiles_keys_are_read_and_a_not_found_section_is_short() {
        let p: Row = serde_json::from_value(json!({"CID": 1, "IsomericSMILES": "C[C@H](N)O", "CanonicalSMILES": "CC(N)O"})).unwrap();
        let s = serde_json::to_value(p.section(None)).unwrap();
        assert_eq!((s["smiles"].as_str(), s["connectivity_smiles"].as_str()), (Some("C[C@H](N)O"), Some("CC(N)O")));
        assert_eq!(serde_json::to_value(PubchemSection::not_found()).unwrap(), json!({"found": false, "cid": null, "note": "not in PubChem"}));
    }
}
