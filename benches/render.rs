//! Rendering: `Renderer::render` (Tera, line wrapping and the no-link lint of every
//! rendered notice), one notice per iteration over a rotating set of people covering the
//! brand × locale × field-set variants. Also the lint alone on one rendered notice.
//! `cargo bench --bench render`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tsuchi::ingest::FieldSet;
use tsuchi::render::{Person, Renderer};

mod common;

struct Owned {
    id: String,
    name: String,
    brand: &'static str,
    locale: &'static str,
    leaked: FieldSet,
}

fn people(n: usize) -> Vec<Owned> {
    (1..=n)
        .map(|i| {
            // The flags of `common::row`: name and e-mail always, the rest from the bits of i.
            let bits = |b: usize| (i >> b) & 1 == 1;
            let mut leaked = FieldSet::default();
            let set = [
                true,
                bits(0),
                bits(1),
                true,
                bits(2),
                bits(2),
                bits(3),
                bits(4),
                bits(4),
            ];
            for (k, on) in set.iter().enumerate() {
                if *on {
                    leaked.insert(k);
                }
            }
            Owned {
                id: format!("C{i:06}"),
                name: format!("試験 太郎{i}"),
                brand: common::BRANDS[i % 3],
                locale: if i % 7 == 3 { "en" } else { "ja" },
                leaked,
            }
        })
        .collect()
}

fn person(p: &Owned) -> Person<'_> {
    Person {
        id: &p.id,
        name: &p.name,
        brand: p.brand,
        locale: p.locale,
        leaked: p.leaked,
    }
}

fn render(c: &mut Criterion) {
    let config = common::config();
    let renderer = Renderer::new(&config).unwrap();
    let people = people(4096);

    let mut g = c.benchmark_group("render");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("render_and_lint_notice", |b| {
        b.iter(|| {
            i = (i + 1) % people.len();
            black_box(renderer.render(&person(&people[i])).unwrap())
        })
    });
    let ja = people.iter().find(|p| p.locale == "ja").unwrap();
    let notice = renderer.render(&person(ja)).unwrap();
    let text = format!("{}\n{}", notice.subject, notice.body);
    g.bench_function("lint_only_ja_notice", |b| {
        b.iter(|| black_box(tsuchi::render::find_links(black_box(&text))))
    });
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
