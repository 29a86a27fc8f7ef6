#!/usr/bin/env bash
# Starts a one-node cluster in DIR on this machine's address IP (not loopback, so that Pods can
# reach it): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (Debian's
# 1.6, with runc) and a kubelet registered as node lso-node. Pods get addresses on a CNI bridge
# (10.244.0.0/24); the pause image is built here (a static program in a scratch image) and,
# with IMAGE (the operator image, from buildah's storage), imported into containerd. Every
# process's pid goes to DIR/pids; tests/e2e/node/down.sh DIR stops them and cleans up.
#
#   tests/e2e/node/up.sh DIR IP [IMAGE]
set -euo pipefail
D=$1 IP=$2 IMAGE=${3:-}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
T=$("$repo/tests/e2e/tools/build.sh" etcd kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler)
for b in containerd runc buildah gcc openssl; do
  command -v "$b" >/dev/null || { echo "$b is missing (scripts/prereqs.sh test installs it)" >&2; exit 1; }
done
"$repo/scripts/container-host.sh"
mkdir -p "$D"
cd "$D"
start() { # name command...
  local name=$1; shift
  "$@" >"$D/$name.log" 2>&1 &
  echo "$! $name" >>"$D/pids"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A CA, the API server's certificate (the node address and the service address), the
# ServiceAccount signing key, an admin token.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=lso-node-ca 2>/dev/null
printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=IP:%s,IP:10.0.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' "$IP" >san.cnf
openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 2 -extfile san.cnf -extensions ext 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
token=$(openssl rand -hex 16)
echo "$token,admin,admin,system:masters" >tokens.csv
api_port=$(port) etcd_port=$(port) peer_port=$(port)
cat >kubeconfig <<EOC
apiVersion: v1
kind: Config
clusters: [{name: lso-node, cluster: {server: "https://$IP:$api_port", certificate-authority: $D/ca.crt}}]
users: [{name: admin, user: {token: $token}}]
contexts: [{name: lso-node, context: {cluster: lso-node, user: admin}}]
current-context: lso-node
EOC
echo "$api_port" >api-port

start etcd "$T/etcd" --data-dir="$D/etcd" --listen-client-urls="http://127.0.0.1:$etcd_port" \
  --advertise-client-urls="http://127.0.0.1:$etcd_port" --listen-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" --initial-cluster="default=http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync --log-level=warn
start kube-apiserver "$T/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address="$IP" --advertise-address="$IP" --secure-port="$api_port" \
  --tls-cert-file=apiserver.crt --tls-private-key-file=apiserver.key --client-ca-file=ca.crt \
  --authorization-mode=Node,RBAC --token-auth-file=tokens.csv --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=sa.pub --service-account-signing-key-file=sa.key \
  --kubelet-preferred-address-types=InternalIP --allow-privileged=true
for i in $(seq 120); do
  "$T/kubectl" --kubeconfig kubeconfig get --raw /readyz >/dev/null 2>&1 && break
  [ "$i" = 120 ] && { echo "kube-apiserver not ready; see $D/kube-apiserver.log" >&2; exit 1; }
  sleep 1
done
start kube-controller-manager "$T/kube-controller-manager" --kubeconfig=kubeconfig --leader-elect=false \
  --secure-port=0 --service-account-private-key-file=sa.key --root-ca-file=ca.crt \
  --use-service-account-credentials=false --controllers='*,-nodeipam'
start kube-scheduler "$T/kube-scheduler" --kubeconfig=kubeconfig --leader-elect=false --secure-port=0

# containerd of its own: its root, state, socket and CNI configuration in DIR. The sandbox
# refuses a lower oom_score_adj than the process's own, hence restrict_oom_score_adj.
mkdir -p cni
cat >cni/10-lso.conflist <<EOC
{"cniVersion": "0.4.0", "name": "lso", "plugins": [
  {"type": "bridge", "bridge": "lso0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$D/ipam", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOC
cat >containerd.toml <<EOC
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
[grpc]
  address = "$D/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/lso-pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni"
EOC
start containerd containerd --config containerd.toml
ctr() { command ctr --address "$D/containerd.sock" -n k8s.io "$@"; }
for i in $(seq 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done

# The pause image: nothing to pull here, so a static program in a scratch image.
cat >pause.c <<'EOC'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) { signal(SIGINT, stop); signal(SIGTERM, stop); signal(SIGCHLD, reap); for (;;) pause(); }
EOC
gcc -static -Os -o pause pause.c
c=$(buildah from scratch)
buildah copy "$c" pause /pause >/dev/null
buildah config --entrypoint '["/pause"]' "$c"
buildah commit -q "$c" localhost/lso-pause:1 >/dev/null
buildah rm "$c" >/dev/null
for img in localhost/lso-pause:1 ${IMAGE:+"$IMAGE"}; do
  rm -f image.tar
  buildah push -q "$img" "oci-archive:$D/image.tar:$img" >/dev/null
  ctr images import image.tar >/dev/null
done

cat >kubelet.yaml <<EOC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $D/ca.crt}}
authorization: {mode: AlwaysAllow}
address: $IP
port: 10250
readOnlyPort: 0
containerRuntimeEndpoint: unix://$D/containerd.sock
imageServiceEndpoint: unix://$D/containerd.sock
localStorageCapacityIsolation: false
evictionHard: {}
resolvConf: /etc/resolv.conf
EOC
start kubelet "$T/kubelet" --kubeconfig=kubeconfig --config=kubelet.yaml --hostname-override=lso-node \
  --node-ip="$IP" --root-dir="$D/kubelet" --cert-dir="$D/kubelet-pki"
echo "$D/kubeconfig"
