{{- define "lso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lso.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "lso.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lso.labels" -}}
{{ include "lso.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "lso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lso.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The rules the operator needs on the objects it watches, and nothing more. */}}
{{- define "lso.watchRules" -}}
- apiGroups: ["live.snapshot.dev"]
  resources: ["livesnapshottemplates", "vodassetsnapshots", "mpssnapshotjobs"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["live.snapshot.dev"]
  resources: ["livesnapshottemplates/status", "vodassetsnapshots/status", "mpssnapshotjobs/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["live.snapshot.dev"]
  resources: ["livesnapshottemplates/finalizers", "vodassetsnapshots/finalizers", "mpssnapshotjobs/finalizers"]
  verbs: ["update"]
# Secrets are granted per namespace (secrets-rbac.yaml), never here.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}


{{/* The ClusterRole a namespace binds to let the operator read its Secrets. */}}
{{- define "lso.secretsClusterRole" -}}
{{- .Values.secrets.clusterRoleName | default (printf "%s-secrets" (include "lso.fullname" .)) -}}
{{- end -}}

{{/* The ClusterRole a namespace binds to let the operator write results ConfigMaps there. */}}
{{- define "lso.resultsClusterRole" -}}
{{- printf "%s-results" (include "lso.fullname" .) -}}
{{- end -}}
