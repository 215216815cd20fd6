{{/* Names -------------------------------------------------------------- */}}

{{- define "redlane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-and-chart prefix of every resource name (at most 50 characters,
so suffixes like -redis-cluster-init stay within 63). */}}
{{- define "redlane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "redlane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: common labels plus the component given as .component. Call with
(dict "ctx" $ "component" "app"). */}}
{{- define "redlane.labels" -}}
helm.sh/chart: {{ include "redlane.chart" .ctx }}
{{ include "redlane.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: redlane
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "redlane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redlane.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "redlane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "redlane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image: (dict "image" .Values.x.image "default" tag) */}}
{{- define "redlane.image" -}}
{{- $tag := default .default .image.tag | toString }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{- define "redlane.secretName" -}}
{{- default (include "redlane.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Conversions ---------------------------------------------------------- */}}

{{/* redlane.seconds: a Go duration string ("25s", "1m30s", "500ms") to whole
seconds, rounded up. Only h, m, s and ms units are understood. */}}
{{- define "redlane.seconds" -}}
{{- $ms := 0.0 }}
{{- range $part := regexFindAll "[0-9.]+(ms|h|m|s)" (toString .) -1 }}
{{- $n := regexFind "^[0-9.]+" $part | float64 }}
{{- $unit := regexReplaceAll "^[0-9.]+" $part "" }}
{{- if eq $unit "h" }}{{ $ms = addf $ms (mulf $n 3600000) }}
{{- else if eq $unit "m" }}{{ $ms = addf $ms (mulf $n 60000) }}
{{- else if eq $unit "s" }}{{ $ms = addf $ms (mulf $n 1000) }}
{{- else }}{{ $ms = addf $ms $n }}{{ end }}
{{- end }}
{{- ceil (divf $ms 1000) | int }}
{{- end }}

{{/* redlane.bytes: a Kubernetes memory quantity ("512Mi", "1G", "1073741824")
to bytes. */}}
{{- define "redlane.bytes" -}}
{{- $q := toString . }}
{{- $n := regexFind "^[0-9.]+" $q | float64 }}
{{- $suffix := regexReplaceAll "^[0-9.]+" $q "" }}
{{- $mult := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- if not (hasKey $mult $suffix) }}
{{- fail (printf "memory quantity %q: unsupported suffix %q (use Ki, Mi, Gi, Ti, k, M, G, T or bytes)" $q $suffix) }}
{{- end }}
{{- mulf $n (get $mult $suffix) | floor | int64 }}
{{- end }}

{{/* Grace period: preStop + drainDelay + shutdownTimeout + 5 s, unless set.
shutdownTimeout defaults to 25s in the app (internal/config/defaults.go). */}}
{{- define "redlane.terminationGracePeriodSeconds" -}}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- $server := (.Values.config | default dict).server | default dict }}
{{- $drain := include "redlane.seconds" ($server.drainDelay | default "0s") | int }}
{{- $shutdown := include "redlane.seconds" ($server.shutdownTimeout | default "25s") | int }}
{{- add .Values.preStopSleepSeconds $drain $shutdown 5 }}
{{- end }}
{{- end }}

{{/* Redis ---------------------------------------------------------------- */}}

{{- define "redlane.redis.fullname" -}}
{{- printf "%s-redis" (include "redlane.fullname" .) }}
{{- end }}

{{- define "redlane.redis.headless" -}}
{{- printf "%s-redis-headless" (include "redlane.fullname" .) }}
{{- end }}

{{- define "redlane.redis.isCluster" -}}
{{- if and .Values.redis.enabled (eq .Values.redis.architecture "cluster") }}true{{ end }}
{{- end }}

{{- define "redlane.redis.nodeCount" -}}
{{- if include "redlane.redis.isCluster" . }}
{{- mul .Values.redis.cluster.masters (add1 .Values.redis.cluster.replicasPerMaster) }}
{{- else }}1{{ end }}
{{- end }}

{{/* Stable DNS name of Redis pod N (the headless service gives each pod one). */}}
{{- define "redlane.redis.podHost" -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "redlane.redis.fullname" .ctx) (int .i) (include "redlane.redis.headless" .ctx) .ctx.Release.Namespace .ctx.Values.clusterDomain }}
{{- end }}

{{/* redlane.redis.memory: a redis.conf memory value in bytes. redis.conf
accepts a whole number of bytes, or one followed by k/kb/m/mb/g/gb (any case:
k = 1000, kb = 1024, and so on); anything else fails the render, because Redis
would refuse to start on it. (dict "what" name "value" v) */}}
{{- define "redlane.redis.memory" -}}
{{- $v := .value }}
{{- if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) }}
{{- if or (lt (float64 $v) 0.0) (ne (float64 $v) (floor $v)) }}
{{- fail (printf "%s: %v is not a whole number of bytes" .what $v) }}
{{- end }}
{{- $v | int64 }}
{{- else }}
{{- $s := toString $v }}
{{- if not (regexMatch "^[0-9]+([kKmMgG][bB]?)?$" $s) }}
{{- fail (printf "%s: %q is not a redis.conf memory size: use bytes (104857600) or a whole number with k, kb, m, mb, g or gb (100mb)" .what $s) }}
{{- end }}
{{- $units := dict "" 1 "k" 1000 "kb" 1024 "m" 1000000 "mb" 1048576 "g" 1000000000 "gb" 1073741824 }}
{{- mul (regexFind "^[0-9]+" $s | atoi) (get $units (regexFind "[a-z]*$" (lower $s))) }}
{{- end }}
{{- end }}

{{/* redlane.redis.maxmemory: maxmemory in bytes for redis.conf: explicit
(redis.maxmemory), or derived from the memory limit. It is never above the
container's memory limit: Redis would be OOM-killed before it evicts. */}}
{{- define "redlane.redis.maxmemory" -}}
{{- $r := .Values.redis }}
{{- $limit := (($r.resources).limits).memory }}
{{- if gt (int $r.maxmemoryPercent) 100 }}
{{- fail (printf "redis.maxmemoryPercent: %v is above 100%% of the container's memory limit" $r.maxmemoryPercent) }}
{{- end }}
{{- $bytes := 0 }}
{{- if ne (toString $r.maxmemory) "" }}
{{- $bytes = include "redlane.redis.memory" (dict "what" "redis.maxmemory" "value" $r.maxmemory) | int64 }}
{{- if $limit }}
{{- $limitBytes := include "redlane.bytes" $limit | int64 }}
{{- if gt $bytes $limitBytes }}
{{- fail (printf "redis.maxmemory (%d bytes) is above redis.resources.limits.memory (%s = %d bytes): Redis would be OOM-killed before it evicts; lower maxmemory or raise the limit" $bytes (toString $limit) $limitBytes) }}
{{- end }}
{{- end }}
{{- else }}
{{- if not $limit }}
{{- fail "redis: set redis.maxmemory or redis.resources.limits.memory (maxmemory is derived from it)" }}
{{- end }}
{{- $bytes = divf (mulf (include "redlane.bytes" $limit | float64) $r.maxmemoryPercent) 100 | floor | int64 }}
{{- end }}
{{- $bytes }}
{{- end }}

{{/* redlane.humanBytes: a byte count as people read it (768.0 MiB). */}}
{{- define "redlane.humanBytes" -}}
{{- $b := . | float64 }}
{{- if ge $b 1073741824.0 }}{{ printf "%.1f GiB" (divf $b 1073741824) }}
{{- else if ge $b 1048576.0 }}{{ printf "%.1f MiB" (divf $b 1048576) }}
{{- else if ge $b 1024.0 }}{{ printf "%.1f KiB" (divf $b 1024) }}
{{- else }}{{ printf "%d bytes" (int64 $b) }}{{ end }}
{{- end }}

{{/* redlane.validate: values that contradict each other fail the render
with a message instead of producing a release that cannot work. Included by
the Deployment, so every render checks. */}}
{{- define "redlane.validate" -}}
{{- if and .Values.redis.enabled (or .Values.externalRedis.url .Values.externalRedis.addrs) }}
{{- fail "externalRedis is set while redis.enabled is true: the chart would ignore it; set redis.enabled=false to use the external Redis, or remove externalRedis" }}
{{- end }}
{{- if and .Values.postgresql.enabled .Values.externalDatabase.url }}
{{- fail "externalDatabase.url is set while postgresql.enabled is true: the chart would ignore it; set postgresql.enabled=false to use the external database, or remove externalDatabase.url" }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $_ := include "redlane.redis.maxmemory" . }}
{{- end }}
{{- include "redlane.validateDatabase" . }}
{{- end }}

{{/* redlane.validateDatabase: the users database must be shared by every
pod. Without PostgreSQL or an external URL each pod would run its own
in-memory database: users created through one pod unknown to the others,
while the shared Redis cache serves them anyway, and all of them lost on
restart. That is allowed for one pod only, as a try-out (NOTES warns).
Demo users have a public password: asked for with a database, Redlane would
ignore them, so the render says so instead. */}}
{{- define "redlane.validateDatabase" -}}
{{- $db := (.Values.config | default dict).database | default dict }}
{{- if hasKey $db "url" }}
{{- fail "config.database.url would put the database password in a ConfigMap: use externalDatabase.url (kept in the Secret) with postgresql.enabled=false" }}
{{- end }}
{{- if not (include "redlane.databaseEnabled" .) }}
{{- $why := "with the embedded users database (postgresql.enabled=false and no externalDatabase.url): each pod would run its own in-memory SQLite, lost on restart, while Redis and its cache are shared, so users created through one pod would not exist on the others. Keep postgresql.enabled=true (the default), or set externalDatabase.url (with secrets.existingSecret: any non-empty value, the Secret's databaseUrl key is used); the embedded database is for a one-pod try-out only (replicaCount=1, autoscaling.enabled=false)" }}
{{- if .Values.autoscaling.enabled }}
{{- fail (printf "autoscaling.enabled=true %s" $why) }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount=%d %s" (int .Values.replicaCount) $why) }}
{{- end }}
{{- else if gt (int (include "redlane.demoUsers" .)) 0 }}
{{- fail "config.database.seedUsers asks for demo users, whose password (password123) is public; Redlane creates them only in its embedded database and ignores them with PostgreSQL. Remove config.database.seedUsers, and create real users with POST /users and the admin token (or, knowingly, redlane db seed)" }}
{{- end }}
{{- end }}

{{/* redlane.demoUsers: config.database.seedUsers, or 0 when unset. The
chart never runs Redlane's embedded Redis, so Redlane creates demo users only
when this asks for them. */}}
{{- define "redlane.demoUsers" -}}
{{- $n := ((.Values.config | default dict).database | default dict).seedUsers }}
{{- if kindIs "invalid" $n }}0{{ else }}{{ int $n }}{{ end }}
{{- end }}

{{/* The config document ------------------------------------------------- */}}

{{/* redlane.configDocument: .Values.config as the spec, plus the connection
to the in-chart Redis (or the external addresses). */}}
{{- define "redlane.configDocument" -}}
{{- $spec := deepCopy (.Values.config | default dict) }}
{{- $redis := get $spec "redis" | default dict }}
{{- if .Values.redis.enabled }}
{{- range $k := list "url" "host" "addrs" "sentinel" }}
{{- if hasKey $redis $k }}
{{- fail (printf "config.redis.%s is set by the chart when redis.enabled is true; remove it (or set redis.enabled=false and use externalRedis)" $k) }}
{{- end }}
{{- end }}
{{- if include "redlane.redis.isCluster" . }}
{{- $addrs := list }}
{{- range $i := until (include "redlane.redis.nodeCount" . | int) }}
{{- $addrs = append $addrs (printf "%s:6379" (include "redlane.redis.podHost" (dict "ctx" $ "i" $i))) }}
{{- end }}
{{- $_ := set $redis "addrs" $addrs }}
{{- $_ := set $redis "clusterMode" true }}
{{- else }}
{{- $_ := set $redis "host" (include "redlane.redis.fullname" .) }}
{{- $_ := set $redis "port" 6379 }}
{{- end }}
{{- else }}
{{- with .Values.externalRedis }}
{{- if and (not .url) (not .addrs) (not $redis.url) (not $redis.host) (not $redis.addrs) }}
{{- fail "redis.enabled is false: set externalRedis.url or externalRedis.addrs (Redlane would otherwise start an embedded development Redis)" }}
{{- end }}
{{- with .addrs }}{{ $_ := set $redis "addrs" . }}{{ end }}
{{- if .clusterMode }}{{ $_ := set $redis "clusterMode" true }}{{ end }}
{{- with .sentinelMasterName }}{{ $_ := set $redis "sentinel" (dict "masterName" .) }}{{ end }}
{{- end }}
{{- end }}
{{- /* Never fall back to an embedded development Redis inside a cluster. */}}
{{- $_ := set $redis "embedded" (dict "disabled" true) }}
{{- $_ := set $spec "redis" $redis }}
apiVersion: redlane.dev/v1alpha1
kind: RedlaneConfig
spec:
{{- toYaml $spec | nindent 2 }}
{{- end }}

{{/* Secrets --------------------------------------------------------------- */}}

{{/* redlane.secretValue: the value of key .key: given in values, else kept
from the Secret already in the cluster, else random. (dict "ctx" $ "key" k
"value" v) */}}
{{- define "redlane.secretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "redlane.fullname" .ctx) }}
{{- if and $existing (hasKey ($existing.data | default dict) .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- end }}

{{- define "redlane.databaseEnabled" -}}
{{- if or .Values.postgresql.enabled .Values.externalDatabase.url }}true{{ end }}
{{- end }}

{{- define "redlane.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "redlane.fullname" .) }}
{{- end }}

{{/* Port the app listens on: from config.server.address, 8000 by default. */}}
{{- define "redlane.containerPort" -}}
{{- $addr := ((.Values.config | default dict).server | default dict).address | default ":8000" }}
{{- regexFind "[0-9]+$" $addr | default "8000" }}
{{- end }}
