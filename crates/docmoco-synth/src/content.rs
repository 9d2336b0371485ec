//! Random but plausible field values: names, addresses, dates, amounts, codes and prose.
//!
//! Each generator draws from several formats (date styles, number separators, currency
//! placement) because real documents disagree on them and a detector must read them all.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::words::*;

/// Picks one element; the lists are non-empty constants, so an empty one is a programming
/// error that we answer with an empty string instead of a panic.
pub fn pick<'a, R: Rng>(rng: &mut R, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or("")
}

pub fn person<R: Rng>(rng: &mut R) -> String {
    format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES))
}

pub fn person_with_title<R: Rng>(rng: &mut R) -> String {
    format!("{} {}", pick(rng, SALUTATION_TITLES), person(rng))
}

pub fn company<R: Rng>(rng: &mut R) -> String {
    let a = pick(rng, COMPANY_WORDS);
    let b = pick(rng, COMPANY_KINDS);
    let c = pick(rng, COMPANY_SUFFIXES);
    match rng.gen_range(0..4) {
        0 => format!("{a} {c}"),
        1 => format!("{a} & {} {c}", pick(rng, LAST_NAMES)),
        _ => format!("{a} {b} {c}"),
    }
}

pub fn street<R: Rng>(rng: &mut R) -> String {
    let n = rng.gen_range(1..250);
    let s = pick(rng, STREETS);
    if rng.gen_bool(0.5) {
        format!("{n} {s}")
    } else {
        format!("{s} {n}")
    }
}

pub fn postcode<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..4) {
        0 => format!("{:05}", rng.gen_range(1000..99999)),
        1 => format!("{:04}", rng.gen_range(1000..9999)),
        2 => {
            let l = |r: &mut R| (b'A' + r.gen_range(0..26u8)) as char;
            format!(
                "{}{}{} {}{}{}",
                l(rng),
                l(rng),
                rng.gen_range(1..20),
                rng.gen_range(1..10),
                l(rng),
                l(rng)
            )
        }
        _ => format!("{}-{:03}", rng.gen_range(10..99), rng.gen_range(0..999)),
    }
}

pub fn city_line<R: Rng>(rng: &mut R) -> String {
    format!("{} {}", postcode(rng), pick(rng, CITIES))
}

pub fn country<R: Rng>(rng: &mut R) -> (&'static str, &'static str) {
    *COUNTRIES.choose(rng).unwrap_or(&("Germany", "DE"))
}

/// A postal address as lines: optional name line, street, city, optional country.
pub fn address<R: Rng>(rng: &mut R, name: Option<String>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(n) = name {
        v.push(n);
    }
    if rng.gen_bool(0.25) {
        v.push(format!("Attn: {}", person(rng)));
    }
    v.push(street(rng));
    v.push(city_line(rng));
    if rng.gen_bool(0.5) {
        v.push(country(rng).0.to_string());
    }
    v
}

pub fn phone<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..3) {
        0 => format!(
            "+{} {} {} {}",
            rng.gen_range(1..99),
            rng.gen_range(10..999),
            rng.gen_range(100..9999),
            rng.gen_range(100..9999)
        ),
        1 => format!(
            "({:03}) {:03}-{:04}",
            rng.gen_range(200..999),
            rng.gen_range(100..999),
            rng.gen_range(0..9999)
        ),
        _ => format!(
            "0{} {:06}",
            rng.gen_range(10..999),
            rng.gen_range(0..999999)
        ),
    }
}

pub fn email<R: Rng>(rng: &mut R, company: &str) -> String {
    let user = ["info", "sales", "accounts", "office", "billing", "contact"];
    let u = user.choose(rng).copied().unwrap_or("info");
    let domain: String = company
        .split_whitespace()
        .next()
        .unwrap_or("example")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let tld = [".com", ".de", ".co.uk", ".fr", ".eu", ".net"];
    format!("{u}@{domain}{}", tld.choose(rng).copied().unwrap_or(".com"))
}

/// A date in one of several styles; the style is picked per call.
pub fn date<R: Rng>(rng: &mut R) -> String {
    let (y, m, d) = (
        rng.gen_range(2015..2026),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
    );
    date_in_style(rng.gen_range(0..6), y, m, d)
}

/// A date in a fixed style (documents keep one style throughout).
pub fn date_in_style(style: u32, y: i32, m: usize, d: u32) -> String {
    let month = MONTHS
        .get(m.saturating_sub(1))
        .copied()
        .unwrap_or("January");
    match style {
        0 => format!("{d:02}.{m:02}.{y}"),
        1 => format!("{y}-{m:02}-{d:02}"),
        2 => format!("{m:02}/{d:02}/{y}"),
        3 => format!("{d} {month} {y}"),
        4 => format!("{month} {d}, {y}"),
        _ => format!("{d:02}/{m:02}/{y}"),
    }
}

/// How a document writes money: separators, decimals and currency placement.
#[derive(Debug, Clone, Copy)]
pub struct MoneyStyle {
    pub thousands: Option<char>,
    pub decimal: char,
    pub symbol: &'static str,
    pub symbol_before: bool,
}

impl MoneyStyle {
    pub fn random<R: Rng>(rng: &mut R) -> Self {
        let (thousands, decimal) = match rng.gen_range(0..4) {
            0 => (Some(','), '.'),
            1 => (Some('.'), ','),
            2 => (Some(' '), ','),
            _ => (None, '.'),
        };
        let (symbol, before) = match rng.gen_range(0..6) {
            0 => ("$", true),
            1 => ("£", true),
            2 => (" €", false),
            3 => (" EUR", false),
            4 => ("", false),
            _ => ("EUR ", true),
        };
        MoneyStyle {
            thousands,
            decimal,
            symbol,
            symbol_before: before,
        }
    }

    /// Formats an amount given in cents.
    pub fn format(&self, cents: i64, with_symbol: bool) -> String {
        let neg = cents < 0;
        let cents = cents.unsigned_abs();
        let units = (cents / 100).to_string();
        let mut grouped = String::new();
        for (i, ch) in units.chars().enumerate() {
            if i > 0 && (units.len() - i).is_multiple_of(3) {
                if let Some(t) = self.thousands {
                    grouped.push(t);
                }
            }
            grouped.push(ch);
        }
        let body = format!(
            "{}{grouped}{}{:02}",
            if neg { "-" } else { "" },
            self.decimal,
            cents % 100
        );
        match (with_symbol, self.symbol_before) {
            (false, _) => body,
            (true, true) => format!("{}{body}", self.symbol),
            (true, false) => format!("{body}{}", self.symbol),
        }
    }
}

/// A document number such as `INV-2023-00417`.
pub fn doc_number<R: Rng>(rng: &mut R, prefix: &str) -> String {
    match rng.gen_range(0..3) {
        0 => format!(
            "{prefix}-{}-{:05}",
            rng.gen_range(2015..2026),
            rng.gen_range(1..99999)
        ),
        1 => format!("{prefix}{:07}", rng.gen_range(1..9999999)),
        _ => format!("{:06}", rng.gen_range(1..999999)),
    }
}

/// Harmonized System tariff code (6 digits, often extended to 8 or 10).
pub fn hs_code<R: Rng>(rng: &mut R) -> String {
    let base = format!(
        "{:04}.{:02}",
        rng.gen_range(101..9706),
        rng.gen_range(0..99)
    );
    match rng.gen_range(0..3) {
        0 => base,
        1 => format!("{base}.{:02}", rng.gen_range(0..99)),
        _ => base.replace('.', ""),
    }
}

pub fn iban<R: Rng>(rng: &mut R) -> String {
    let cc = country(rng).1;
    let mut s = format!("{cc}{:02}", rng.gen_range(10..99));
    for _ in 0..4 {
        s.push_str(&format!(" {:04}", rng.gen_range(0..9999)));
    }
    s.push_str(&format!(" {:02}", rng.gen_range(0..99)));
    s
}

pub fn vat_id<R: Rng>(rng: &mut R) -> String {
    format!("{}{:09}", country(rng).1, rng.gen_range(0..999_999_999u64))
}

pub fn product<R: Rng>(rng: &mut R) -> String {
    let adj = pick(rng, PRODUCT_ADJ);
    let noun = pick(rng, PRODUCT_NOUNS);
    if rng.gen_bool(0.3) {
        format!("{adj} {noun}, type {}", rng.gen_range(10..999))
    } else {
        format!("{adj} {noun}")
    }
}

pub fn sku<R: Rng>(rng: &mut R) -> String {
    let l = (b'A' + rng.gen_range(0..26u8)) as char;
    let l2 = (b'A' + rng.gen_range(0..26u8)) as char;
    format!("{l}{l2}-{:05}", rng.gen_range(0..99999))
}

/// A run of prose words, with the first capitalised.
pub fn words<R: Rng>(rng: &mut R, n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|_| pick(rng, PROSE).to_string()).collect();
    if let Some(first) = v.first_mut() {
        *first = capitalise(first);
    }
    v
}

/// A paragraph as words, with sentence punctuation.
pub fn paragraph_words<R: Rng>(rng: &mut R, n_sentences: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n_sentences {
        let len = rng.gen_range(6..18);
        let mut s = words(rng, len);
        if rng.gen_bool(0.15) {
            let k = rng.gen_range(1..s.len());
            s.insert(k, format!("{}", rng.gen_range(2..2000)));
        }
        if rng.gen_bool(0.3) && s.len() > 4 {
            let k = rng.gen_range(2..s.len() - 1);
            s[k].push(',');
        }
        if let Some(last) = s.last_mut() {
            last.push('.');
        }
        out.extend(s);
    }
    out
}

pub fn sentence<R: Rng>(rng: &mut R, n: usize) -> String {
    let mut s = words(rng, n).join(" ");
    s.push('.');
    s
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub fn title<R: Rng>(rng: &mut R) -> String {
    format!("{} {}", pick(rng, TITLE_WORDS), pick(rng, TITLE_NOUNS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn money_formats_group_thousands() {
        let s = MoneyStyle {
            thousands: Some(','),
            decimal: '.',
            symbol: "$",
            symbol_before: true,
        };
        assert_eq!(s.format(123456789, true), "$1,234,567.89");
        assert_eq!(s.format(5, false), "0.05");
        assert_eq!(s.format(-100000, false), "-1,000.00");
    }

    #[test]
    fn generators_are_non_empty() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            assert!(!person(&mut rng).is_empty());
            assert!(!company(&mut rng).is_empty());
            assert!(!date(&mut rng).is_empty());
            assert!(!hs_code(&mut rng).is_empty());
            assert!(!paragraph_words(&mut rng, 2).is_empty());
        }
    }
}
