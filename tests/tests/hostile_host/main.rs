//! The hostile-host battery (issue 12): the host is the adversary the agent exists to check.
//!
//! Every scenario runs the agent's GHCB request path (`SimBackend`: the `snp-ghcb` guest driver
//! and its one retry policy) on the simulator, through [`Hostile`] — a `Vmgexit` that sits where
//! the hypervisor sits and can do anything a hypervisor can: answer without forwarding, forward
//! and then rewrite the answer, rewrite the shared pages before or after the guest reads them,
//! re-seal a response under the right key but with a wrong header (a firmware bug or a key leak:
//! the tag alone must not be all the guest checks), lose the exit. The simulator's own fault
//! knobs (`snp_sim::faults::Faults`) are used where they already model the behaviour.
//!
//! Time is a `ManualClock` shared by host and guest: backoffs and deadlines take no real time, and
//! no test sleeps. Every scenario asserts
//! - the exact typed error (`BackendError` variant and its fields) or the correct recovery (the
//!   report verifies against the VCEK the host served, chained to the simulator's roots);
//! - a bound on host exits and on (simulated) time for the call;
//! - no (VMPCK, sequence number) pair reused: the wiretap compares the bytes of every message
//!   sent under each pair, and the simulated firmware counts sequence-number violations;
//! - no panic (each scenario is its own `#[test]`).
//!
//! `battery_has_thirty_named_scenarios` counts the scenarios and lists each one's expected
//! outcome, so the battery cannot shrink silently.

mod certificates;
mod exits;
mod hypervisor;
mod response;
mod retry;
mod rig;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snp_agent::backend::sim::SimBackend;
use snp_agent::backend::{Backend, BackendError, BackendKind, ExtendedReport, ReportRequest};
use snp_agent::evidence::Evidence;
use snp_certs::product::Product;
use snp_certs::roots::TrustAnchors;
use snp_certs::table::{CertTable, TableError, PAGE_SIZE as TABLE_PAGE};
use snp_certs::verify::{CheckStatus, Endorsements, VerificationOutcome, Verifier};
use snp_ghcb::driver::{Gpa, PlatformError, Vmgexit};
use snp_ghcb::exit::{FwStatus, BUSY, INVALID_LEN, SNP_EXTENDED_GUEST_REQUEST};
use snp_ghcb::message::{open, seal, MsgMeta, MsgType, Vmpck, VmpckId, MAX_PAYLOAD, MSG_HDR_SIZE};
use snp_ghcb::page::{Field, Ghcb, PAGE_SIZE};
use snp_ghcb::retry::RetryPolicy;
use snp_sim::clock::ManualClock;
use snp_sim::counters::CountersSnapshot;
use snp_sim::face::ghcb::GhcbFace;
use snp_sim::faults::{Faults, NoCerts, Repeat, Throttle};
use snp_sim::platform::SimPlatform;

use hypervisor::*;
use rig::*;

/// Expected outcome of each scenario, as listed in the closing note of the issue.
const SCENARIOS: &[(&str, &str)] = &[
    ("well_behaved_host", "success; one firmware request; evidence verifies"),
    ("busy_then_invalid_len_then_stale_blob", "success after 1 BUSY + 1 INVALID_LEN; verification fails at report_signature, tcb_binding fails too (stale VCEK)"),
    ("invalid_len_asking_for_zero_pages", "HostMisbehaved (InvalidLenNoGrowth); seqno burnt; key kept; recovers"),
    ("invalid_len_asking_for_2_pow_20_pages", "CertsTooLarge{needed: 2^32 bytes, max: 256 KiB}; key kept; recovers"),
    ("invalid_len_forever_growing", "HostMisbehaved (TooManyInvalidLen) after 4 rounds; key kept; recovers"),
    ("invalid_len_asking_for_what_was_given", "HostMisbehaved (InvalidLenNoGrowth); key kept"),
    ("invalid_len_without_page_count", "HostMisbehaved (InvalidLenWithoutSize); key kept"),
    ("invalid_len_on_the_burn", "HostError; key wiped (plain request cannot be INVALID_LEN)"),
    ("response_with_wrong_sequence_number", "ResponseRejected; key wiped; next call VmpckDisabled with no exit"),
    ("response_with_wrong_message_type", "ResponseRejected; key wiped"),
    ("response_with_wrong_message_version", "ResponseRejected; key wiped"),
    ("response_for_another_vmpck", "ResponseRejected; key wiped"),
    ("response_length_past_the_page", "ResponseRejected; key wiped"),
    ("response_with_bad_tag", "ResponseRejected; key wiped"),
    ("response_replayed_from_earlier_request", "ResponseRejected; key wiped"),
    ("response_page_zeroed", "ResponseRejected; key wiped"),
    ("response_changed_between_two_reads", "success: the guest reads the response page once; the later change is never seen"),
    ("cert_pages_changed_after_the_guest_read_them", "success with the table as first read"),
    ("cert_table_entries_overlap", "report returned; TableError::Overlap; evidence has no endorsements"),
    ("cert_table_entry_points_past_the_buffer", "TableError::PayloadPastEnd / OffsetPastEnd"),
    ("cert_table_without_terminator", "TableError::MissingTerminator or TooManyEntries"),
    ("cert_table_duplicate_vcek", "TableError::DuplicateKnown"),
    ("host_tampers_with_the_request", "firmware auth failure -> Firmware{status}; key wiped"),
    ("exit_info_not_marked_valid", "HostError (outcome unknown); key wiped"),
    ("exit_lost_after_forwarding", "HostError (platform lost the exit); key wiped"),
    ("exit_failed_before_the_host_saw_it", "HostError naming the lost exit; key wiped (the request page was host-shared: issue 16)"),
    ("busy_forever", "BusyTimeout within the 60 s deadline; the identical message re-sent; key wiped (a BUSY host may have forwarded it: issue 16)"),
    ("busy_then_invalid_len_forever", "HostMisbehaved (INVALID_LEN 4 times) after 2 BUSY; recovers"),
    ("invalid_len_then_busy_forever_on_the_burn", "BusyTimeout; key wiped, the burn is never re-sealed under another seqno"),
    ("throttling_host", "success after waiting out the window"),
    ("wrong_vcek_served", "report returned; verification fails at report_signature, chip_id_binding fails too"),
    ("no_certificates_served", "success with an empty table"),
    ("ghcb_rejected", "HostError; key wiped"),
    ("generic_vmm_error", "HostError; key wiped"),
    ("firmware_refuses", "Firmware{status}; key wiped"),
    ("truncated_firmware_response", "MalformedResponse (need 1216 bytes)"),
    ("host_rewrites_the_ghcb_exit_code", "success with an empty table; the report verifies; no reuse"),
];

#[test]
fn battery_has_thirty_named_scenarios() {
    assert!(SCENARIOS.len() >= 30, "{} scenarios", SCENARIOS.len());
    let mut names: Vec<_> = SCENARIOS.iter().map(|(n, _)| *n).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SCENARIOS.len(), "scenario names are unique");
    for (name, outcome) in SCENARIOS {
        eprintln!("{name}: {outcome}");
    }
}

/// The battery's source files, for the list-against-tests check below.
const SOURCES: &[&str] = &[
    include_str!("main.rs"),
    include_str!("retry.rs"),
    include_str!("response.rs"),
    include_str!("certificates.rs"),
    include_str!("exits.rs"),
];

/// Every scenario test is in the list (so its expected outcome is reported), and every listed
/// scenario exists (a `#[test]` function in one of the battery's files).
#[test]
fn scenario_list_matches_the_tests() {
    let src = SOURCES.concat();
    for (name, _) in SCENARIOS {
        assert!(
            src.contains(&format!("fn {name}()")),
            "scenario {name} has no test"
        );
    }
    // The other way: every test in the scenario files is a listed scenario.
    let mut tests = 0;
    for file in &SOURCES[1..] {
        let mut lines = file.lines();
        while let Some(line) = lines.next() {
            if line.trim() != "#[test]" {
                continue;
            }
            let next = lines.next().unwrap_or_default();
            let name = next
                .strip_prefix("fn ")
                .and_then(|rest| rest.split('(').next())
                .unwrap_or_else(|| panic!("a #[test] not followed by a fn: {next:?}"));
            assert!(
                SCENARIOS.iter().any(|(n, _)| *n == name),
                "test {name} is not in SCENARIOS (add it with its expected outcome)"
            );
            tests += 1;
        }
    }
    assert_eq!(
        tests,
        SCENARIOS.len(),
        "scenario files hold exactly the listed tests"
    );
    let _ = (TABLE_PAGE, MSG_HDR_SIZE);
}
