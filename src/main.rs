use kube::CustomResourceExt;
fn main() {
    print!("{}", serde_yaml::to_string(&live_snapshot_operator::resource::LiveSnapshotTemplate::crd()).unwrap());
}
