//! `cafectl status`: the health of what runs, as tables or JSON; exit 0
//! when healthy, 1 when not.

use std::io::Write;

use super::Exit;
use crate::cli::{OutputFormat, ReportArgs};
use crate::cluster::session::Session;
use crate::cluster::status::Status;

/// The verb itself, on an open session.
pub(crate) async fn execute(
    session: &Session,
    args: &ReportArgs,
    stdout: &mut dyn Write,
    _stderr: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let status = Status::read(session).await?;
    match args.output {
        Some(OutputFormat::Json) => writeln!(stdout, "{}", serde_json::to_string_pretty(&status)?)?,
        None => print(&status, stdout)?,
    }
    Ok(if status.healthy {
        Exit::Success
    } else {
        Exit::Failure
    })
}

fn print(status: &Status, out: &mut dyn Write) -> anyhow::Result<()> {
    let text = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let count =
        |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |value| value.to_string());
    let sentinel = status.pods.iter().any(|pod| pod.sentinel_names.is_some());
    let cluster = status.pods.iter().any(|pod| pod.slots.is_some());
    let mut header = vec![
        "POD", "ROLE", "MASTER", "LINK", "LAG", "MEMORY", "CLIENTS", "KEYS",
    ];
    if sentinel {
        header.push("SENTINEL NAMES");
    }
    if cluster {
        header.push("SLOTS");
    }
    let mut rows = vec![header
        .iter()
        .map(|title| (*title).to_owned())
        .collect::<Vec<_>>()];
    for pod in &status.pods {
        let mut row = vec![
            pod.pod.clone(),
            pod.role.clone().unwrap_or_else(|| "no answer".to_owned()),
            text(&pod.master),
            text(&pod.link),
            pod.lag_seconds
                .map_or_else(|| "-".to_owned(), |lag| format!("{lag}s")),
            match (&pod.used_memory, &pod.maxmemory) {
                (Some(used), Some(max)) => format!("{used}/{max}"),
                (used, _) => text(used),
            },
            count(pod.clients),
            count(pod.keys),
        ];
        if sentinel {
            row.push(text(&pod.sentinel_names));
        }
        if cluster {
            row.push(count(pod.slots));
        }
        rows.push(row);
    }
    table(&rows, out)?;
    if !status.autoscalers.is_empty() {
        writeln!(out)?;
        let mut rows = vec![[
            "HPA", "TARGET", "CURRENT", "DESIRED", "MIN", "MAX", "METRICS",
        ]
        .iter()
        .map(|title| (*title).to_owned())
        .collect::<Vec<_>>()];
        for hpa in &status.autoscalers {
            rows.push(if hpa.exists {
                vec![
                    hpa.name.clone(),
                    hpa.target.clone(),
                    count(hpa.current_replicas),
                    count(hpa.desired_replicas),
                    count(hpa.min_replicas),
                    count(hpa.max_replicas),
                    hpa.metrics.join(", "),
                ]
            } else {
                vec![
                    hpa.name.clone(),
                    hpa.target.clone(),
                    "not applied".to_owned(),
                ]
            });
        }
        table(&rows, out)?;
    }
    writeln!(out)?;
    if status.healthy {
        writeln!(out, "healthy")?;
    } else {
        writeln!(out, "unhealthy:")?;
        for problem in &status.problems {
            writeln!(out, "  {problem}")?;
        }
    }
    Ok(())
}

/// Columns padded to their widest cell, two spaces apart.
fn table(rows: &[Vec<String>], out: &mut dyn Write) -> anyhow::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
