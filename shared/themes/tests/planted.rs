//! Synthetic corpora with planted reasons, in each language: comments of detractors and promoters
//! drawn from the same everyday words, plus three reasons planted on each side in some of them.
//! The planted reasons must be the top three of their side, significant; a corpus where both
//! sides draw from the same words and reasons must show nothing significant.

use nps_scoring::Category;
use nps_themes::{Language, Ranked, TermCounts, rank, terms};

struct Corpus {
    language: Language,
    /// Said by everyone, whatever their score.
    filler: &'static [&'static str],
    detractors: [&'static str; 3],
    promoters: [&'static str; 3],
    /// One reason both sides give as often.
    shared: &'static str,
}

const CORPORA: [Corpus; 4] = [
    Corpus {
        language: Language::En,
        filler: &[
            "ordered", "bought", "week", "package", "product", "colour", "size", "box", "gift", "online", "shop",
            "item", "camping", "weekend", "trip", "family", "winter", "summer", "price", "website",
        ],
        detractors: ["the stove arrived broken", "delivery was very late", "support never answered my emails"],
        promoters: ["great quality tent", "fast friendly checkout", "helpful staff in store"],
        shared: "used it twice already",
    },
    Corpus {
        language: Language::De,
        filler: &[
            "bestellt",
            "gekauft",
            "woche",
            "paket",
            "produkt",
            "farbe",
            "größe",
            "karton",
            "geschenk",
            "online",
            "laden",
            "artikel",
            "camping",
            "wochenende",
            "reise",
            "familie",
            "winter",
            "sommer",
        ],
        detractors: ["der Herd kam kaputt an", "Lieferung kam viel zu spät", "Kundendienst antwortet nie"],
        promoters: ["tolle Qualität beim Zelt", "schnelle Bezahlung", "hilfsbereite Verkäufer im Laden"],
        shared: "schon zweimal benutzt",
    },
    Corpus {
        language: Language::Fr,
        filler: &[
            "commandé",
            "acheté",
            "semaine",
            "colis",
            "produit",
            "couleur",
            "taille",
            "carton",
            "cadeau",
            "internet",
            "magasin",
            "article",
            "camping",
            "weekend",
            "voyage",
            "famille",
            "hiver",
            "été",
        ],
        detractors: ["le réchaud est arrivé cassé", "livraison beaucoup trop lente", "service client injoignable"],
        promoters: ["tente de superbe qualité", "paiement rapide", "vendeurs serviables en boutique"],
        shared: "déjà utilisé deux fois",
    },
    Corpus {
        language: Language::Es,
        filler: &[
            "pedido",
            "comprado",
            "semana",
            "paquete",
            "producto",
            "color",
            "talla",
            "caja",
            "regalo",
            "internet",
            "tienda",
            "artículo",
            "camping",
            "finde",
            "viaje",
            "familia",
            "invierno",
            "verano",
        ],
        detractors: ["la estufa llegó rota", "entrega muy tardía", "soporte nunca respondió"],
        promoters: ["tienda de campaña excelente", "pago rápido", "vendedores amables"],
        shared: "ya usado dos veces",
    },
];

/// `n` comments of `category`: everyday words, and each of `reasons` in a share of them.
fn comments(rng: &mut fastrand::Rng, corpus: &Corpus, reasons: &[&str], n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut parts: Vec<String> =
                (0..rng.usize(3..8)).map(|_| corpus.filler[rng.usize(..corpus.filler.len())].to_owned()).collect();
            for (i, reason) in reasons.iter().enumerate() {
                // 30%, 25%, 20% of comments give the first, second, third reason.
                if rng.u8(..100) < 30 - 5 * i as u8 {
                    parts.insert(rng.usize(..=parts.len()), format!(". {reason}."));
                }
            }
            if rng.u8(..100) < 15 {
                parts.push(format!(". {}", corpus.shared));
            }
            parts.join(" ")
        })
        .collect()
}

fn counted(corpus: &Corpus, sides: [(Category, Vec<String>); 3]) -> TermCounts {
    let mut counts = TermCounts::default();
    for (category, texts) in sides {
        for text in texts {
            counts.add_comment(category, &text, corpus.language);
        }
    }
    counts
}

/// The reason (by index) whose words a theme's term comes from.
fn reason_of(corpus: &Corpus, reasons: &[&str], term: &str) -> Option<usize> {
    reasons.iter().position(|r| {
        let keys: Vec<String> = terms(r, corpus.language).into_iter().map(|t| t.key).collect();
        term.split(' ').all(|w| keys.iter().any(|k| k == w))
    })
}

#[test]
fn planted_reasons_are_the_top_three_of_their_side_in_each_language() {
    for corpus in &CORPORA {
        for seed in 0..5 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let counts = counted(
                corpus,
                [
                    (Category::Detractor, comments(&mut rng, corpus, &corpus.detractors, 150)),
                    (Category::Passive, comments(&mut rng, corpus, &[], 100)),
                    (Category::Promoter, comments(&mut rng, corpus, &corpus.promoters, 300)),
                ],
            );
            let Ranked { detractors, promoters, .. } = rank(&counts, 3);
            for (side, themes, reasons) in
                [("detractors", &detractors, &corpus.detractors), ("promoters", &promoters, &corpus.promoters)]
            {
                let found: Vec<Option<usize>> = themes.iter().map(|t| reason_of(corpus, reasons, &t.term)).collect();
                let mut distinct: Vec<usize> = found.iter().flatten().copied().collect();
                distinct.sort();
                distinct.dedup();
                assert_eq!(
                    distinct,
                    [0, 1, 2],
                    "{:?} seed {seed} {side}: {:?}",
                    corpus.language,
                    themes.iter().map(|t| (&t.label, t.z)).collect::<Vec<_>>()
                );
                assert!(themes.iter().all(|t| t.significant && t.z > 0.0), "{side}: {themes:?}");
                assert!(
                    themes.iter().all(|t| reason_of(corpus, &[corpus.shared], &t.term).is_none()),
                    "a reason both sides give as often is no reason of either"
                );
            }
        }
    }
}

#[test]
fn a_corpus_without_a_difference_ranks_nothing_as_significant() {
    for corpus in &CORPORA {
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(100 + seed);
            // Both sides draw from the same words and give the same reasons as often.
            let all: Vec<&str> = corpus.detractors.iter().chain(&corpus.promoters).copied().collect();
            let counts = counted(
                corpus,
                [
                    (Category::Detractor, comments(&mut rng, corpus, &all, 200)),
                    (Category::Passive, comments(&mut rng, corpus, &all, 100)),
                    (Category::Promoter, comments(&mut rng, corpus, &all, 200)),
                ],
            );
            let ranked = rank(&counts, 20);
            let significant: Vec<_> = ranked
                .detractors
                .iter()
                .chain(&ranked.promoters)
                .filter(|t| t.significant)
                .map(|t| (&t.label, t.z))
                .collect();
            assert!(ranked.tested > 30, "enough terms tested to tempt chance: {}", ranked.tested);
            assert!(significant.is_empty(), "{:?} seed {seed}: {significant:?}", corpus.language);
        }
    }
}

#[test]
fn few_comments_rank_but_prove_nothing() {
    let corpus = &CORPORA[0];
    let counts = counted(
        corpus,
        [
            (Category::Detractor, vec!["stove broken".into(), "stove broken again".into()]),
            (Category::Passive, vec![]),
            (Category::Promoter, vec!["great tent".into(), "great stove".into()]),
        ],
    );
    let ranked = rank(&counts, 3);
    assert!(ranked.detractors.iter().chain(&ranked.promoters).all(|t| !t.significant), "{ranked:?}");
    assert!(ranked.detractors.iter().all(|t| t.mentions.total() >= 3), "a term said under 3 times is never shown");
}
