/**
 * A kubeadm control-plane node's files in a temporary directory, as `kubeadm init` (v1.31)
 * writes them: the static pod manifests, the kubeadm configuration, and a `/proc/<pid>/cmdline`
 * for the running kube-apiserver (what kubelet started). Real modes; owners are the test's user.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseApiserverManifest } from '../../src/doctor/index.js'

export const KUBEADM_APISERVER_MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.20.100:6443
  creationTimestamp: null
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.20.100
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --enable-admission-plugins=NodeRestriction
    - --enable-bootstrap-token-auth=true
    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt
    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key
    - --etcd-servers=https://127.0.0.1:2379
    - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt
    - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key
    - --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname
    - --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt
    - --proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key
    - --requestheader-allowed-names=front-proxy-client
    - --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt
    - --requestheader-extra-headers-prefix=X-Remote-Extra-
    - --requestheader-group-headers=X-Remote-Group
    - --requestheader-username-headers=X-Remote-User
    - --secure-port=6443
    - --service-account-issuer=https://kubernetes.default.svc.cluster.local
    - --service-account-key-file=/etc/kubernetes/pki/sa.pub
    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key
    - --service-cluster-ip-range=10.96.0.0/12
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: registry.k8s.io/kube-apiserver:v1.31.2
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 10.0.20.100
        path: /livez
        port: 6443
        scheme: HTTPS
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: kube-apiserver
    readinessProbe:
      failureThreshold: 3
      httpGet:
        host: 10.0.20.100
        path: /readyz
        port: 6443
        scheme: HTTPS
      periodSeconds: 1
      timeoutSeconds: 15
    resources:
      requests:
        cpu: 250m
    startupProbe:
      failureThreshold: 24
      httpGet:
        host: 10.0.20.100
        path: /livez
        port: 6443
        scheme: HTTPS
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    volumeMounts:
    - mountPath: /etc/ssl/certs
      name: ca-certs
      readOnly: true
    - mountPath: /etc/ca-certificates
      name: etc-ca-certificates
      readOnly: true
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
    - mountPath: /usr/local/share/ca-certificates
      name: usr-local-share-ca-certificates
      readOnly: true
    - mountPath: /usr/share/ca-certificates
      name: usr-share-ca-certificates
      readOnly: true
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  volumes:
  - hostPath:
      path: /etc/ssl/certs
      type: DirectoryOrCreate
    name: ca-certs
  - hostPath:
      path: /etc/ca-certificates
      type: DirectoryOrCreate
    name: etc-ca-certificates
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
  - hostPath:
      path: /usr/local/share/ca-certificates
      type: DirectoryOrCreate
    name: usr-local-share-ca-certificates
  - hostPath:
      path: /usr/share/ca-certificates
      type: DirectoryOrCreate
    name: usr-share-ca-certificates
status: {}
`

const OTHER_POD = (name: string, image: string) => `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels:
    component: ${name}
    tier: control-plane
  name: ${name}
  namespace: kube-system
spec:
  containers:
  - command:
    - ${name}
    image: registry.k8s.io/${image}
    name: ${name}
  hostNetwork: true
status: {}
`

export const KUBEADM_CONFIG_V1BETA4 = `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
# written by kubeadm init, kept for upgrades
apiServer:
  certSANs:
  - 10.0.20.100
caCertificateValidityPeriod: 87600h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controlPlaneEndpoint: 10.0.20.100:6443
etcd:
  local:
    dataDir: /var/lib/etcd
kubernetesVersion: v1.31.2
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
`

export const KUBEADM_CONFIG_V1BETA3 = `apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
clusterName: kubernetes
kubernetesVersion: v1.29.4
`

export const APISERVER_PID = 4242

export interface NodeTree {
  root: string
  /** Absolute path on this machine for a node path. */
  at(nodePath: string): string
  write(nodePath: string, text: string, mode?: number): void
  read(nodePath: string): string
  /** kubelet (re)started the apiserver from the manifest: /proc/<pid>/cmdline follows it. */
  restartApiserver(manifestNodePath?: string): void
}

export function kubeadmNode(options: { kubeadmConfig?: string | false } = {}): NodeTree {
  const root = mkdtempSync(join(tmpdir(), 'kubetrail-node-'))
  const at = (p: string) => join(root, p)
  const write = (p: string, text: string, mode = 0o600) => {
    mkdirSync(dirname(at(p)), { recursive: true })
    writeFileSync(at(p), text, { mode })
    chmodSync(at(p), mode)
  }
  const tree: NodeTree = {
    root,
    at,
    write,
    read: (p) => readFileSync(at(p), 'utf8'),
    restartApiserver(manifest = '/etc/kubernetes/manifests/kube-apiserver.yaml') {
      const m = parseApiserverManifest(manifest, readFileSync(at(manifest), 'utf8'))
      write(`/proc/${APISERVER_PID}/cmdline`, m.argv.join('\0') + '\0', 0o444)
    },
  }
  mkdirSync(at('/etc/kubernetes/manifests'), { recursive: true, mode: 0o700 })
  write('/etc/kubernetes/manifests/kube-apiserver.yaml', KUBEADM_APISERVER_MANIFEST)
  write('/etc/kubernetes/manifests/kube-controller-manager.yaml', OTHER_POD('kube-controller-manager', 'kube-controller-manager:v1.31.2'))
  write('/etc/kubernetes/manifests/kube-scheduler.yaml', OTHER_POD('kube-scheduler', 'kube-scheduler:v1.31.2'))
  write('/etc/kubernetes/manifests/etcd.yaml', OTHER_POD('etcd', 'etcd:3.5.15-0'))
  if (options.kubeadmConfig !== false) write('/etc/kubernetes/kubeadm-config.yaml', options.kubeadmConfig ?? KUBEADM_CONFIG_V1BETA4)
  write('/proc/1/cmdline', '/sbin/init\0', 0o444)
  tree.restartApiserver()
  mkdirSync(at('/var/log'), { recursive: true })
  return tree
}
