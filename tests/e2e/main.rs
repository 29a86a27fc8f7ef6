//! End-to-end suite: one real kube-apiserver + etcd for the whole binary, the project's
//! simulator, and the operator. Runs every scenario (a few at a time), prints a line per
//! scenario and `N passed, M failed`, and tears the control plane down even on failure.
//!
//! `cargo test --test e2e -- FILTER` runs the scenarios whose name contains FILTER.
//! `LSO_E2E_LOG=1` also prints the operator's logs.

mod admission;
mod distribution;
mod gitops;
mod harness;
mod image;
mod install;
mod lag;
mod mps;
mod node;
mod observability;
mod product;
mod reconcile;
mod safety;
mod upgrade;
mod vod;

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use harness::Shared;

type Scenario = fn(Arc<Shared>) -> Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

macro_rules! scenarios {
    ($($path:path),* $(,)?) => {
        vec![$((stringify!($path), (|s| Box::pin($path(s))) as Scenario)),*]
    };
}

#[derive(Clone)]
struct LogSink(Arc<Mutex<Vec<u8>>>, bool);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if self.1 {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = scenarios![
        product::examples_apply_and_show_ready,
        install::chart_lint_template_and_schema,
        install::helm_install_rbac_leader_failover_and_metrics,
        install::secrets_only_where_a_namespace_grants_them,
        upgrade::upgrade_from_the_previous_release_writes_nothing,
        node::chart_runs_on_a_real_node,
        distribution::cli_is_a_kubectl_plugin_with_completions_and_version,
        distribution::chart_packages_with_overrides_and_aggregated_roles,
        image::image_builds_reproducibly_and_runs_as_the_chart_runs_it,
        observability::dashboard_and_alerts_query_only_exported_metrics,
        observability::alert_rules_pass_promtool,
        observability::spans_reach_an_otlp_collector,
        admission::invalid_manifests_are_refused,
        gitops::argo_cd_health_and_kstatus_read_every_state,
        gitops::argo_cd_customizations_pass_their_tests,
        gitops::validate_agrees_with_the_api_server,
        gitops::kubeconform_reads_the_generated_schemas,
        gitops::import_plan_and_adopt_round_trip,
        gitops::import_follows_vod_tasks_and_mps_jobs,
        gitops::plan_lists_every_kind_and_what_the_repository_removed,
        reconcile::create_then_in_sync_without_writes,
        reconcile::update_on_spec_change_keeps_transition_time,
        reconcile::drift_is_corrected,
        reconcile::resync_clock_corrects_drift,
        reconcile::observe_reports_drift_without_writing,
        reconcile::conflict_leaves_the_owner_alone,
        reconcile::delete_and_orphan,
        reconcile::missing_secret_then_created,
        reconcile::throttling_backs_off_then_converges,
        reconcile::terminal_error_is_a_condition_without_hot_loop,
        reconcile::terminal_errors_wait_quietly_through_resyncs,
        reconcile::restart_between_create_and_status,
        reconcile::pause_stops_upstream_calls,
        reconcile::callback_key_never_leaks,
        safety::existing_template_is_left_alone_unless_adoption_is_asked,
        safety::unanswered_creates_are_known_as_ours,
        safety::deletion_removes_only_what_the_object_owns,
        safety::deletion_finishes_without_credentials_or_when_paused,
        safety::ownership_cannot_be_squatted,
        safety::forged_ownership_gains_nothing,
        safety::unproven_records_are_reowned_only_where_upstream_matches,
        safety::default_credentials_serve_only_listed_namespaces,
        safety::tenant_cannot_aim_the_operator_elsewhere,
        safety::secrets_are_watched_without_their_data,
        safety::rotated_credentials_are_used_without_a_restart,
        vod::task_started_and_cover_set,
        vod::cover_drift_is_corrected,
        vod::asset_not_found_then_uploaded,
        vod::asset_not_ready_then_ready,
        vod::observe_reads_and_never_writes,
        vod::delete_and_orphan,
        vod::bad_thumbnail_settings_are_refused,
        vod::restart_between_task_start_and_status,
        vod::a_missing_crd_does_not_stall_the_other_kinds,
        vod::resync_does_not_reread_finished_results,
        vod::failed_task_is_final,
        vod::task_followed_by_id_gives_the_cover,
        vod::a_task_someone_else_starts_after_a_refusal_is_left_alone,
        vod::a_lost_create_never_deletes_the_task_it_finds,
        vod::a_forged_cover_url_changes_no_asset,
        vod::every_result_is_readable_from_configmaps,
        vod::a_failed_task_runs_again_when_retried,
        vod::followers_of_one_asset_share_their_reads,
        mps::job_submitted_and_succeeds,
        mps::failed_job_is_terminal,
        mps::crash_after_submit_submits_no_second_job,
        mps::one_submit_under_a_lagging_watch,
        mps::refused_submit_is_final_until_retried,
        mps::refused_submit_stays_final_under_a_lagging_watch,
        mps::listed_job_failures_are_final,
        mps::unknown_state_backs_off,
        mps::rebuilt_cluster_submits_nothing,
        mps::followed_job_is_observed_only,
        mps::bad_jobs_are_refused,
    ];
    let selected: Vec<_> = all
        .into_iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();

    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = LogSink(logs.clone(), std::env::var_os("LSO_E2E_LOG").is_some());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,live_snapshot_operator=debug",
        ))
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (passed, failed) = rt.block_on(async move {
        let shared = Shared::start("e2e", logs).await;

        let results: Vec<(&str, bool, Duration)> = futures::stream::iter(selected)
            .map(|(name, f)| {
                let shared = shared.clone();
                async move {
                    let t = Instant::now();
                    let run =
                        tokio::time::timeout(Duration::from_secs(180), tokio::spawn(f(shared)));
                    let ok = matches!(run.await, Ok(Ok(())));
                    let took = t.elapsed();
                    println!(
                        "test {name} ... {} ({:.1}s)",
                        if ok { "ok" } else { "FAILED" },
                        took.as_secs_f64()
                    );
                    (name, ok, took)
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let failed: Vec<_> = results.iter().filter(|r| !r.1).map(|r| r.0).collect();
        if !failed.is_empty() {
            let log = shared.cp.dir.path().join("kube-apiserver.log");
            println!(
                "failed: {failed:?} (operator logs: LSO_E2E_LOG=1; api server log was {})",
                log.display()
            );
        }
        (results.len() - failed.len(), failed.len())
    });
    println!("e2e: {passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
