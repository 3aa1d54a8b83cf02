//! The sample lists under `recipients/` check clean (warnings only), and the CP932 sample is
//! exactly what its generator below produces. Regenerate it with
//! `TSUCHI_REGENERATE_SAMPLES=1 cargo test --test it -- recipients_samples`.

use std::path::{Path, PathBuf};

use tsuchi::config::Config;
use tsuchi::ingest::{Encoding, RecipientReader, Row};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn config() -> Config {
    Config::load(&root().join("config.toml")).unwrap()
}

/// Source of `recipients/sample-cp932.csv`: an Excel-style Shift_JIS export with CRLF line
/// ends and Y/N or ○/× flags. `㈱`-free, but 髙 and 﨑 are CP932 extensions outside JIS X 0208.
const CP932_SAMPLE: &str = "\
id,email,name,brand,locale,leaked_name,leaked_gender,leaked_birth_date,leaked_email,leaked_address,leaked_postal_code,leaked_phone,leaked_passport_number,leaked_passport_issue_date,postal_address
SJ-000301,nishimura.k@kaede-mail.example,西村 健太,kaede,,Y,Y,Y,Y,N,N,Y,N,N,埼玉県さいたま市浦和区仮町1-1
SJ-000302,miyazaki.a@hoshi-net.example,宮﨑 葵 様,hoshizora,,○,×,○,○,○,○,×,×,×,
SJ-000303,takagi.r@umi-web.example,髙木 涼子,umineko,,Y,N,Y,Y,Y,Y,Y,Y,Y,静岡県静岡市葵区見本町2-3
SJ-000304,ueda..mai@docomo.ne.jp,上田 舞,kaede,,○,○,○,○,×,×,○,×,×,
SJ-000305,nomura.t@example-isp.example,野村 拓海,hoshizora,,Y,N,N,Y,N,N,N,N,N,
SJ-000306,li.wei@umineko-net.example,Li Wei,umineko,en,Y,Y,Y,Y,N,N,Y,Y,Y,
SJ-000307,kubo.s@kaede-mail.example,久保 沙織 様,kaede,,○,×,○,○,×,×,○,×,×,新潟県新潟市中央区例町8-8
SJ-000308,arai.h@hoshi-net.example,新井 浩,umineko,,N,N,N,Y,N,N,N,N,N,
";

fn cp932_bytes() -> Vec<u8> {
    let text = CP932_SAMPLE.replace('\n', "\r\n");
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(
        !unmappable,
        "the CP932 sample has a character CP932 cannot encode"
    );
    bytes.into_owned()
}

fn check_clean(path: &Path, expected_encoding: &str) -> (usize, usize) {
    let reader = RecipientReader::open(path, &config(), Encoding::Auto).unwrap();
    assert_eq!(reader.detected_encoding(), expected_encoding);
    let (mut rows, mut warnings) = (0, 0);
    for row in reader {
        match row.unwrap() {
            Row::Valid { warnings: w, .. } => warnings += w.len(),
            Row::Invalid { errors, .. } => panic!("{}", errors[0]),
        }
        rows += 1;
    }
    (rows, warnings)
}

#[test]
fn cp932_sample_matches_its_generator() {
    let path = root().join("recipients/sample-cp932.csv");
    if std::env::var_os("TSUCHI_REGENERATE_SAMPLES").is_some() {
        std::fs::write(&path, cp932_bytes()).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), cp932_bytes());
    assert_eq!(check_clean(&path, "shift_jis"), (8, 1));
}

#[test]
fn sample_checks_clean() {
    let config = config();
    let path = &config.campaign.recipients;
    assert!(path.ends_with("recipients/sample.csv"));
    let (rows, warnings) = check_clean(path, "utf-8");
    assert_eq!(rows, 30);
    // Four legacy addresses and one address under two brands.
    assert_eq!(warnings, 5);
    // Every brand, every locale.
    let all: Vec<_> = RecipientReader::open(path, &config, Encoding::Auto)
        .unwrap()
        .filter_map(|r| match r.unwrap() {
            Row::Valid { recipient, .. } => Some(recipient),
            Row::Invalid { .. } => None,
        })
        .collect();
    for brand in config.brands.keys() {
        assert!(all.iter().any(|r| &r.brand == brand), "{brand}");
    }
    assert!(all.iter().any(|r| r.locale == "en"));
    let passport = config.field_index("passport_number").unwrap();
    assert!(all.iter().filter(|r| r.leaked.contains(passport)).count() >= 3);
}
