//! A server's Prometheus endpoint, scraped and parsed (`prometheus-parse`),
//! and a free address to put it on.

use prometheus_parse::{Sample, Scrape, Value};

/// `127.0.0.1:PORT` on a port free a moment ago, for `--metrics-listen`.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `GET http://ADDRESS/metrics`, parsed.
pub async fn scrape(address: &str) -> Scrape {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

/// The samples of `metric` whose labels include every pair of `labels`.
pub fn samples<'a>(
    scrape: &'a Scrape,
    metric: &'a str,
    labels: &'a [(&str, &str)],
) -> impl Iterator<Item = &'a Sample> + 'a {
    scrape.samples.iter().filter(move |sample| {
        sample.metric == metric
            && labels
                .iter()
                .all(|(name, value)| sample.labels.get(name) == Some(*value))
    })
}

/// The sum over the samples of `metric` matching `labels`: counters and
/// gauges by value, histograms by their count of observations.
pub fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, metric, labels)
        .map(|sample| match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}
