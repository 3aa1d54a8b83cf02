//! A campaign whose e-mail did not reach everyone, for the tests of `tsuchi letters`: a list
//! with postal columns, sent to the scripted relay (which refuses some addresses), and a
//! bounce recorded for one more. Each person is described here, so a test can check that a
//! letter says exactly that person's things.
#![allow(dead_code)]

use std::path::Path;

use super::campaign::{TestCampaign, text};
use super::smtp_server::{Script, SmtpServer};

/// The Japanese font `.ci/run` installs (Debian's fonts-noto-cjk).
pub const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// True when the CJK font is installed. Without it a letter cannot be typeset, and the tests
/// that need one say so and stop.
pub fn cjk_font_installed(test: &str) -> bool {
    let there = Path::new(CJK_FONT).exists();
    if !there {
        eprintln!("{test}: SKIPPED: no CJK font at {CJK_FONT} (Debian package fonts-noto-cjk)");
    }
    there
}

pub const LIST_HEADER: &str = "id,email,name,brand,locale,leaked_name,leaked_gender,leaked_birth_date,leaked_email,leaked_address,leaked_postal_code,leaked_phone,leaked_passport_number,leaked_passport_issue_date,postal_code,address1,address2";

/// One person of the list, and what their letter must say.
pub struct Person {
    pub id: &'static str,
    pub email: &'static str,
    pub name: &'static str,
    /// The name as the letter prints it, 様 included.
    pub addressee: &'static str,
    pub brand: &'static str,
    pub locale: &'static str,
    /// The leaked flags in catalogue order.
    pub flags: [u8; 9],
    pub postal_code: &'static str,
    pub address: [&'static str; 2],
    /// Gets a letter (not reached, usable address, nothing refused).
    pub letter: bool,
}

/// The field labels in catalogue order, in English (the Japanese ones: `catalogue::CATALOGUE`).
pub const LABELS_EN: [&str; 9] = [
    "Name",
    "Gender",
    "Date of birth",
    "E-mail address (the one this notice was sent to)",
    "Postal address",
    "Postal code",
    "Phone number",
    "Passport number",
    "Passport issue date",
];

/// The hotline of each brand, as config.toml gives it.
pub fn hotline(brand: &str) -> &'static str {
    match brand {
        "kaede" => "0120-000-101",
        "hoshizora" => "0120-000-202",
        _ => "0120-000-303",
    }
}

/// The list: refused (`nomail…`) and bounced (`bounce3@…`) people get letters when their
/// address is usable; reached people and the unusable addresses do not.
pub const PEOPLE: [Person; 7] = [
    Person {
        id: "L000001",
        email: "nomail1@example.jp",
        name: "山田 太郎様",
        addressee: "山田 太郎 様",
        brand: "kaede",
        locale: "ja",
        flags: [1, 1, 0, 1, 1, 1, 0, 0, 0],
        postal_code: "100-0005",
        address: ["東京都千代田区丸の内1-1-1", "楓ビル3F"],
        letter: true,
    },
    Person {
        id: "L000002",
        email: "reached2@example.jp",
        name: "鈴木 一郎",
        addressee: "鈴木 一郎 様",
        brand: "kaede",
        locale: "ja",
        flags: [1, 0, 0, 1, 0, 0, 0, 0, 0],
        postal_code: "150-0001",
        address: ["東京都渋谷区神宮前2-2-2", ""],
        letter: false,
    },
    Person {
        id: "L000003",
        email: "bounce3@example.jp",
        name: "Mary Smith",
        addressee: "Mary Smith 様",
        brand: "hoshizora",
        locale: "en",
        flags: [1, 0, 0, 1, 0, 0, 1, 1, 1],
        postal_code: "0600001",
        address: ["北海道札幌市中央区北1条西2-3", "星空マンション101"],
        letter: true,
    },
    Person {
        id: "L000004",
        email: "nomail4@example.jp",
        name: "高橋 次郎",
        addressee: "高橋 次郎 様",
        brand: "umineko",
        locale: "ja",
        flags: [1, 0, 1, 1, 0, 0, 0, 0, 0],
        postal_code: "",
        address: ["福岡県福岡市博多区4-4", ""],
        letter: false,
    },
    Person {
        id: "L000005",
        email: "nomail5@example.jp",
        name: "伊藤 花子",
        addressee: "伊藤 花子 様",
        brand: "umineko",
        locale: "ja",
        flags: [1, 0, 1, 1, 0, 0, 0, 1, 1],
        postal_code: "５３０－０００１",
        address: ["大阪府大阪市北区梅田5-5-5", ""],
        letter: true,
    },
    Person {
        id: "L000006",
        email: "reached6@example.jp",
        name: "渡辺 三郎",
        addressee: "渡辺 三郎 様",
        brand: "hoshizora",
        locale: "ja",
        flags: [1, 1, 1, 1, 1, 1, 1, 1, 1],
        postal_code: "980-0001",
        address: ["宮城県仙台市青葉区6-6", ""],
        letter: false,
    },
    Person {
        id: "L000007",
        email: "nomail7@example.jp",
        name: "中村 四郎",
        addressee: "中村 四郎 様",
        brand: "kaede",
        locale: "ja",
        flags: [1, 0, 0, 1, 0, 0, 0, 0, 0],
        postal_code: "460-0001",
        address: ["愛知県名古屋市中区7-7", "www.example.com ビル"],
        letter: false,
    },
];

/// The list's CSV text, with one invalid row (no e-mail address) at the end.
pub fn list_csv() -> String {
    let mut csv = String::from(LIST_HEADER);
    csv.push('\n');
    for p in &PEOPLE {
        let flags: Vec<String> = p.flags.iter().map(|f| f.to_string()).collect();
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            p.id,
            p.email,
            p.name,
            p.brand,
            p.locale,
            flags.join(","),
            p.postal_code,
            p.address[0],
            p.address[1]
        ));
    }
    csv.push_str("L000008,,小林 五郎,kaede,ja,1,0,0,1,0,0,0,0,0,812-0001,福岡県福岡市8-8,\n");
    csv
}

/// The `[letters]` section the tests use.
pub fn letters_section() -> String {
    format!(
        "\n[letters]\npostal_code = \"postal_code\"\naddress = [\"address1\", \"address2\"]\n\
         font = \"{CJK_FONT}\"\nreturn_address = [\"〒100-0005 東京都千代田区丸の内9-9-9\", \"楓トラベル株式会社 お客様窓口\"]\n"
    )
}

/// Copies the repository's letter templates into the campaign's own templates.
pub fn copy_letter_templates(c: &TestCampaign) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for locale in ["ja", "en"] {
        std::fs::copy(
            repo.join("templates").join(locale).join("letter.tera"),
            c.path("templates").join(locale).join("letter.tera"),
        )
        .unwrap();
    }
}

/// A delivery status notification saying that `rcpt`'s message bounced.
fn dsn(rcpt: &str) -> String {
    format!(
        "From MAILER-DAEMON Wed Nov 25 09:00:00 2026\r\nReturn-Path: <>\r\nFrom: MAILER-DAEMON@relay.example.jp\r\n\
         To: bounce@kaede-travel.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B0UNCE\"\r\n\r\n\
         --B0UNCE\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
         --B0UNCE\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example.jp\r\n\r\n\
         Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B0UNCE--\r\n"
    )
}

/// The campaign sent: the `nomail` addresses refused by the relay, `bounce3` bounced after.
pub async fn unreached_campaign(edit: impl FnOnce(String) -> String) -> TestCampaign {
    let c = TestCampaign::with_list(&list_csv(), |config| {
        edit(config.replace("require_approval = true", "require_approval = false"))
    });
    copy_letter_templates(&c);
    let server =
        SmtpServer::start(Script::new().reject_recipient("nomail", 550, "5.1.1", "no such user"))
            .await;
    let args = super::campaign::send_args(&server.url(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = c.command(&args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "an invalid row: {}", text(&out));
    std::fs::write(c.path("bounces.mbox"), dsn("bounce3@example.jp")).unwrap();
    let out = c.run(&["bounces", c.path("bounces.mbox").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    c
}

/// One line of `manifest.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestLine {
    pub batch: String,
    pub first: u32,
    pub last: u32,
    pub reference: String,
    pub postal_code: String,
    pub prefecture: String,
}

/// Reads `manifest.csv` (which must start with a BOM).
pub fn read_manifest(path: &Path) -> Vec<ManifestLine> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("the manifest starts with a BOM");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("batch,pages,reference,postal_code,prefecture")
    );
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let (first, last) = c[1].split_once('-').unwrap();
            ManifestLine {
                batch: c[0].into(),
                first: first.parse().unwrap(),
                last: last.parse().unwrap(),
                reference: c[2].into(),
                postal_code: c[3].into(),
                prefecture: c[4].into(),
            }
        })
        .collect()
}
