//! The plan as people and programs read it: one line per item that changes
//! something and a summary (`plan`, `apply`), the JSON document a reviewer
//! saves and `apply --plan` compares, and the exit outcome of a plan.

use crate::certpolicy::EvaluationCounts;
use crate::failure::Outcome;
use crate::plan;
use crate::plan::Outcome as Item;
use crate::plan::{Plan, PlanError, PlanItem};
use crate::report::terminal_safe;

pub(crate) fn changes_text(changes: &[plan::AttributeChange], with_count: bool) -> String {
    changes
        .iter()
        .map(|c| {
            if with_count {
                format!(
                    "{}: +{} -{} (now {})",
                    c.attribute.as_str(),
                    c.added.len(),
                    c.removed.len(),
                    c.values.len()
                )
            } else {
                format!("{} ({})", c.attribute.as_str(), c.values.len())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn cap_text(over: &[plan::CapExceeded]) -> String {
    over.iter()
        .map(|c| {
            format!(
                "{} not written: it would hold {} values",
                c.attribute.as_str(),
                c.count
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn describe(item: &PlanItem) -> String {
    let target = item.target.as_ref().map_or(String::new(), |t| {
        format!(" → {} ({})", t.display_name, t.kind)
    });
    let what = match &item.outcome {
        Item::Unchanged => "unchanged".to_owned(),
        Item::Change { changes, over_cap } if over_cap.is_empty() => changes_text(changes, true),
        Item::Change { changes, over_cap } => {
            format!("{}; {}", changes_text(changes, true), cap_text(over_cap))
        }
        Item::Unmatched => "unmatched: no recipient has its addresses".into(),
        Item::CreateContact {
            address, changes, ..
        } => format!(
            "create contact {address} and write {}",
            changes_text(changes, false)
        ),
        Item::Ambiguous { candidates } => {
            format!("ambiguous, never written: {}", candidates.join(", "))
        }
        Item::Skipped { reason } => format!("skipped: {reason}"),
        Item::OverCap { attributes } => cap_text(attributes),
    };
    terminal_safe(&format!(
        "{:<9} {}{target}: {what}",
        kind_word(&item.outcome),
        item.label
    ))
}

pub(crate) fn kind_word(o: &Item) -> &'static str {
    match o {
        Item::Unchanged => "same",
        Item::Change { .. } => "change",
        Item::Unmatched => "unmatched",
        Item::CreateContact { .. } => "create",
        Item::Ambiguous { .. } => "ambiguous",
        Item::Skipped { .. } => "skipped",
        Item::OverCap { .. } => "over-cap",
    }
}

/// Prints one line per item that is not unchanged, made one at a time, then the totals.
pub(crate) fn print_plan(plan: &Plan<'_>) -> Result<(), PlanError> {
    plan.for_each_item(|item| {
        if item.outcome != Item::Unchanged {
            println!("{}", describe(&item));
        }
        Ok::<(), PlanError>(())
    })?;
    print_totals(plan);
    Ok(())
}

/// The plan's totals line.
pub(crate) fn print_totals(plan: &Plan<'_>) {
    let c = &plan.counts;
    println!(
        "plan      {} entries: {} to change, {} contacts to create, {} unchanged, {} unmatched, {} ambiguous, {} skipped (synced), {} over the value cap",
        c.items, c.change, c.create_contact, c.unchanged, c.unmatched, c.ambiguous, c.skipped, c.over_cap
    );
}

pub(crate) fn outcome(counts: &EvaluationCounts, plan: &Plan<'_>) -> Outcome {
    let c = &plan.counts;
    if counts.refused == 0 && c.unmatched + c.ambiguous + c.skipped + c.over_cap == 0 {
        Outcome::Ok
    } else {
        Outcome::SomeRefused
    }
}
