{{/*
Helpers. Kept to plain Go template and a few Sprig functions on purpose: the chart's tests
render it with a small renderer of that subset (test/support/helm-render.ts), as no helm
binary is available where they run.
*/}}

{{- define "custody.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 48 | trimSuffix "-" -}}
{{- end -}}

{{/* Base of every resource name; 48 characters leave room for "-migrate" and the like. */}}
{{- define "custody.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "custody.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "custody.labels" -}}
helm.sh/chart: {{ include "custody.chart" . }}
{{ include "custody.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: custody
{{- end -}}

{{/* Selector labels: never the version (a Deployment's selector cannot change). */}}
{{- define "custody.selectorLabels" -}}
app.kubernetes.io/name: {{ include "custody.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The pod serving HTTP: "api", or "server" when it also runs the workers (colocated). */}}
{{- define "custody.apiComponent" -}}
{{- if eq .Values.spool.mode "colocated" -}}server{{- else -}}api{{- end -}}
{{- end -}}

{{- define "custody.apiName" -}}
{{- printf "%s-%s" (include "custody.fullname" .) (include "custody.apiComponent" .) -}}
{{- end -}}

{{- define "custody.workerName" -}}
{{- printf "%s-worker" (include "custody.fullname" .) -}}
{{- end -}}

{{/* One image for every role; a digest pins it exactly. */}}
{{- define "custody.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "custody.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "custody.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: the ServiceAccount to use when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "custody.secretName" -}}
{{- default (include "custody.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "custody.spoolClaimName" -}}
{{- default (printf "%s-spool" (include "custody.fullname" .)) .Values.spool.existingClaim -}}
{{- end -}}

{{/*
Fails the render, naming everything missing at once, rather than letting pods start and
exit on a configuration error.
*/}}
{{- define "custody.validate" -}}
{{- $missing := list -}}
{{- if not .Values.config.CUSTODY_PUBLIC_URL -}}
{{- $missing = append $missing "config.CUSTODY_PUBLIC_URL (base URL of playback links)" -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- range $key := list "databaseUrl" "redisUrl" "adminToken" "linkSigningKeys" "secretsKey" -}}
{{- if not (index $.Values.secrets.values $key) -}}
{{- $missing = append $missing (printf "secrets.values.%s (or secrets.existingSecret)" $key) -}}
{{- end -}}
{{- end -}}
{{- if and $.Values.directIngest.enabled (not $.Values.secrets.values.inboxHmacKey) -}}
{{- $missing = append $missing "secrets.values.inboxHmacKey (direct ingest is enabled)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.directIngest.enabled (not .Values.directIngest.existingClaim) -}}
{{- $missing = append $missing "directIngest.existingClaim (the inbox shared with recorders)" -}}
{{- end -}}
{{- if and .Values.worker.keda.enabled (not .Values.worker.keda.redis.address) (ne .Values.spool.mode "colocated") -}}
{{- $missing = append $missing "worker.keda.redis.address (host:port for KEDA)" -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "custody: missing values: %s" (join ", " $missing)) -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security: the image's non-root user, RuntimeDefault seccomp. */}}
{{- define "custody.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int64 .Values.podSecurity.runAsUser }}
runAsGroup: {{ int64 .Values.podSecurity.runAsGroup }}
fsGroup: {{ int64 .Values.podSecurity.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "custody.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int64 .Values.podSecurity.runAsUser }}
runAsGroup: {{ int64 .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The secret keys a role needs, as "<key in the Secret>=<file name>" entries. Least
privilege: the admin token only reaches pods serving the API, the inbox key only workers.
Call with (dict "root" $ "role" "api|worker|server|migrate").
*/}}
{{- define "custody.secretItems" -}}
{{- $k := .root.Values.secrets.keys -}}
{{- $items := list (printf "%s=DATABASE_URL" $k.databaseUrl) -}}
{{- if ne .role "migrate" -}}
{{- $items = append $items (printf "%s=REDIS_URL" $k.redisUrl) -}}
{{- $items = append $items (printf "%s=CUSTODY_LINK_SIGNING_KEYS" $k.linkSigningKeys) -}}
{{- $items = append $items (printf "%s=CUSTODY_SECRETS_KEY" $k.secretsKey) -}}
{{- end -}}
{{- if or (eq .role "api") (eq .role "server") -}}
{{- $items = append $items (printf "%s=CUSTODY_ADMIN_TOKEN" $k.adminToken) -}}
{{- end -}}
{{- if and .root.Values.directIngest.enabled (or (eq .role "worker") (eq .role "server")) -}}
{{- $items = append $items (printf "%s=CUSTODY_INBOX_HMAC_KEY" $k.inboxHmacKey) -}}
{{- end -}}
{{- join " " $items -}}
{{- end -}}

{{/* The secret volume for a role: only its keys, readable by the pod's group only. */}}
{{- define "custody.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "custody.secretName" .root }}
    defaultMode: 0440
    items:
      {{- range $item := splitList " " (include "custody.secretItems" .) }}
      {{- $pair := splitList "=" $item }}
      - key: {{ index $pair 0 }}
        path: {{ index $pair 1 }}
      {{- end }}
{{- end -}}

{{/* <NAME>_FILE for each secret of the role: values never sit in the environment. */}}
{{- define "custody.secretEnv" -}}
{{- range $item := splitList " " (include "custody.secretItems" .) }}
{{- $pair := splitList "=" $item }}
- name: {{ index $pair 1 }}_FILE
  value: /var/run/secrets/custody/{{ index $pair 1 }}
{{- end }}
{{- end -}}

{{/* The non-secret settings, skipping empty ones (the service's default applies). */}}
{{- define "custody.configData" -}}
{{- range $name, $value := .Values.config }}
{{- if $value }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes every long-running pod has: /tmp, the spool (/data) and its secrets. */}}
{{- define "custody.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: data
  persistentVolumeClaim:
    claimName: {{ include "custody.spoolClaimName" .root }}
{{ include "custody.secretVolume" . }}
{{- if and .root.Values.directIngest.enabled (or (eq .role "worker") (eq .role "server")) }}
- name: inbox
  persistentVolumeClaim:
    claimName: {{ .root.Values.directIngest.existingClaim }}
{{- end }}
{{- end -}}

{{- define "custody.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
- name: secrets
  mountPath: /var/run/secrets/custody
  readOnly: true
{{- if and .root.Values.directIngest.enabled (or (eq .role "worker") (eq .role "server")) }}
- name: inbox
  mountPath: {{ .root.Values.directIngest.mountPath }}
{{- end }}
{{- end -}}

{{/* Environment of a long-running container besides the ConfigMap. */}}
{{- define "custody.env" -}}
- name: CUSTODY_DATA_DIR
  value: /data
- name: CUSTODY_SPOOL_DIR
  value: /data/spool
- name: PORT
  value: {{ int64 .root.Values.api.containerPort | quote }}
- name: CUSTODY_WORKER_METRICS_PORT
  value: {{ int64 .root.Values.worker.metricsPort | quote }}
{{- if and .root.Values.directIngest.enabled (or (eq .role "worker") (eq .role "server")) }}
- name: CUSTODY_INBOX_DIR
  value: {{ .root.Values.directIngest.mountPath | quote }}
{{- end }}
{{- include "custody.secretEnv" . }}
{{- end -}}

{{/* Checksums that roll the pods when the chart's ConfigMap or Secret changes. */}}
{{- define "custody.checksums" -}}
checksum/config: {{ include "custody.configData" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ toYaml .Values.secrets.values | sha256sum }}
{{- end }}
{{- end -}}

{{/* One topologySpreadConstraint item. Call with (dict "root" $ "component" "api" "spread" …). */}}
{{- define "custody.topologySpread" -}}
- maxSkew: {{ int64 .spread.maxSkew }}
  topologyKey: {{ .spread.topologyKey }}
  whenUnsatisfiable: {{ .spread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "custody.selectorLabels" .root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
{{- end -}}
