//! The content of rendered notices: the person's own fields as a numbered list in catalogue
//! order, the hotline of their brand only, the passport passage, names without 様様.

use std::path::Path;

use tsuchi::config::Config;
use tsuchi::ingest::FieldSet;
use tsuchi::render::{Person, Renderer};

fn config() -> Config {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).unwrap()
}

fn fields(config: &Config, keys: &[&str]) -> FieldSet {
    let mut set = FieldSet::default();
    for k in keys {
        set.insert(config.field_index(k).unwrap());
    }
    set
}

fn render(
    config: &Config,
    name: &str,
    brand: &str,
    locale: &str,
    keys: &[&str],
) -> (String, String) {
    let renderer = Renderer::new(config).unwrap();
    let person = Person {
        id: "C0001",
        name,
        brand,
        locale,
        leaked: fields(config, keys),
    };
    let n = renderer.render(&person).unwrap();
    (n.subject, n.body)
}

#[test]
fn lists_exactly_the_persons_fields_in_catalogue_order() {
    let c = config();
    let (_, body) = render(
        &c,
        "山田 太郎",
        "kaede",
        "ja",
        &["phone", "name", "birth_date"],
    );
    let list: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with('(') && l.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
        .collect();
    assert_eq!(
        list,
        vec!["(1)氏名", "(2)生年月日", "(3)電話番号"],
        "{body}"
    );
    assert!(body.contains("以下の3項目"), "{body}");
    assert!(!body.contains("性別"));
}

#[test]
fn every_combination_of_two_fields_is_listed_in_order() {
    let c = config();
    let renderer = Renderer::new(&c).unwrap();
    for a in 0..c.fields.len() {
        for b in a + 1..c.fields.len() {
            let mut set = FieldSet::default();
            set.insert(a);
            set.insert(b);
            let person = Person {
                id: "X",
                name: "佐藤",
                brand: "umineko",
                locale: "ja",
                leaked: set,
            };
            let body = renderer.render(&person).unwrap().body.replace('\n', "");
            let first = body
                .find(&format!("(1){}", c.fields[a].label))
                .expect("first item");
            let second = body
                .find(&format!("(2){}", c.fields[b].label))
                .expect("second item");
            assert!(first < second);
            assert!(!body.contains("(3)"));
        }
    }
}

#[test]
fn gives_the_hotline_of_the_persons_brand_only() {
    let c = config();
    for (key, brand) in &c.brands {
        let (subject, body) = render(&c, "鈴木 一郎", key, "ja", &["name"]);
        assert!(body.contains(&brand.hotline.number), "{key}");
        assert!(body.contains(&brand.hotline.hours), "{key}");
        assert!(subject.contains(&brand.name), "{key}");
        for (other, ob) in &c.brands {
            if other != key {
                assert!(
                    !body.contains(&ob.hotline.number),
                    "{key} shows {other}'s hotline"
                );
            }
        }
    }
}

#[test]
fn passport_passage_depends_on_the_passport_flags() {
    let c = config();
    let passport = c.incident["ja"].passport.trim().to_string();
    let no_passport = c.incident["ja"].no_passport.trim().to_string();
    let flat = |s: String| s.replace('\n', "");
    let (_, with) = render(&c, "高橋", "kaede", "ja", &["name", "passport_number"]);
    assert!(flat(with.clone()).contains(&passport));
    assert!(!flat(with).contains(&no_passport));
    let (_, issue_date_only) = render(&c, "高橋", "kaede", "ja", &["passport_issue_date"]);
    assert!(flat(issue_date_only).contains(&passport));
    let (_, without) = render(&c, "高橋", "kaede", "ja", &["name", "email"]);
    assert!(!flat(without.clone()).contains(&passport));
    assert!(flat(without).contains(&no_passport));
}

#[test]
fn a_trailing_sama_never_becomes_samasama() {
    let c = config();
    for name in ["田中 花子様", "田中 花子 様", "田中 花子", "田中 花子殿"] {
        let (_, body) = render(&c, name, "kaede", "ja", &["name"]);
        assert!(body.contains("田中 花子 様\n"), "{name}: {body}");
        assert!(!body.contains("様様") && !body.contains("様 様"), "{name}");
    }
    let (_, anonymous) = render(&c, "", "kaede", "ja", &["name"]);
    assert!(anonymous.contains("お客様\n"));
}

#[test]
fn carries_a_reference_number_not_the_customer_id() {
    let c = config();
    let (_, body) = render(&c, "山田", "hoshizora", "ja", &["email"]);
    let reference = tsuchi::render::reference(&c.campaign.id, "C0001");
    assert!(body.contains(&reference));
    assert!(!body.contains("C0001"));
}

#[test]
fn contains_every_required_part() {
    let c = config();
    let (_, body) = render(&c, "山田", "kaede", "ja", &["name", "address"]);
    let flat = body.replace('\n', "");
    let texts = &c.incident["ja"];
    for (what, text) in [
        ("outline", &texts.outline),
        ("cause", &texts.cause),
        ("not leaked", &texts.not_leaked),
        ("secondary harm", &texts.secondary_harm),
        ("measures", &texts.measures),
        ("more info", &texts.more_info),
    ] {
        assert!(flat.contains(text.trim()), "{what} missing");
    }
    assert!(flat.contains("お詫び"), "apology");
    assert!(flat.contains("暗証番号"), "anti-fraud warning");
    assert!(flat.contains(&c.campaign.company));
}

#[test]
fn english_notices_use_english_labels_and_names() {
    let c = config();
    let (subject, body) = render(
        &c,
        "John Smith",
        "kaede",
        "en",
        &["name", "passport_number"],
    );
    assert!(subject.starts_with("Important"));
    assert!(subject.contains("Kaede Travel"));
    let flat = body.replace('\n', " ");
    assert!(flat.contains("(1) Name"), "{body}");
    assert!(flat.contains("(2) Passport number"), "{body}");
    assert!(flat.contains("Dear John Smith,"));
    assert!(!body.contains("氏名"));
}

#[test]
fn a_row_without_any_leaked_field_is_refused() {
    let c = config();
    let renderer = Renderer::new(&c).unwrap();
    let person = Person {
        id: "X",
        name: "山田",
        brand: "kaede",
        locale: "ja",
        leaked: FieldSet::default(),
    };
    let err = renderer.render(&person).unwrap_err();
    assert!(err.0.contains("no leaked field"));
}

#[test]
fn cached_lines_render_exactly_like_fresh_ones() {
    let c = config();
    let warm = Renderer::new(&c).unwrap();
    let people = [
        ("山田 太郎", "kaede", "ja"),
        ("", "hoshizora", "ja"),
        ("John Smith", "umineko", "en"),
    ];
    let mut first = Vec::new();
    for (name, brand, locale) in people {
        let person = Person {
            id: "C1",
            name,
            brand,
            locale,
            leaked: fields(&c, &["name", "address"]),
        };
        first.push(warm.render(&person).unwrap());
    }
    for (i, (name, brand, locale)) in people.iter().enumerate() {
        let person = Person {
            id: "C1",
            name,
            brand,
            locale,
            leaked: fields(&c, &["name", "address"]),
        };
        let cold = Renderer::new(&c).unwrap().render(&person).unwrap();
        assert_eq!(warm.render(&person).unwrap(), cold);
        assert_eq!(first[i], cold);
        assert!(
            cold.body
                .lines()
                .all(|l| tsuchi::render::display_width(l) <= c.mail.wrap_width + 2)
        );
    }
}

#[test]
fn templates_that_branch_on_the_name_are_rendered_per_person() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for locale in ["ja", "en"] {
        std::fs::create_dir_all(dir.path().join(locale)).unwrap();
        for part in ["subject.tera", "body.tera"] {
            let mut text =
                std::fs::read_to_string(repo.join("templates").join(locale).join(part)).unwrap();
            if part == "body.tera" {
                text.push_str("{% if name | length > 3 %}\n長いお名前{% endif %}\n");
            }
            std::fs::write(dir.path().join(locale).join(part), text).unwrap();
        }
    }
    let mut c = config();
    c.campaign.templates = dir.path().to_path_buf();
    let renderer = Renderer::new(&c).unwrap();
    let leaked = fields(&c, &["name"]);
    for _ in 0..2 {
        let short = renderer
            .render(&Person {
                id: "A",
                name: "林",
                brand: "kaede",
                locale: "ja",
                leaked,
            })
            .unwrap();
        let long = renderer
            .render(&Person {
                id: "B",
                name: "勅使河原 美香",
                brand: "kaede",
                locale: "ja",
                leaked,
            })
            .unwrap();
        assert!(!short.body.contains("長いお名前"), "{}", short.body);
        assert!(long.body.contains("長いお名前"), "{}", long.body);
        assert!(short.body.contains("林 様") && long.body.contains("勅使河原 美香 様"));
    }
}
