import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import Serve from '../../src/commands/serve.js';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';

const DIR = path.join(PACKAGE_ROOT, 'deploy', 'kubernetes');
/** Debian's python3-yaml (.ci/run installs it): the project has no YAML parser of its own. */
const PYTHON = '/usr/bin/python3';
const PORT = 7859;
/** What the container needs beyond the server's drain: the preStop sleep and time to exit. */
const MARGIN_SECONDS = 10;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

function loadManifests(): { file: string; doc: Doc }[] {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
  const script = 'import json, sys, yaml\nprint(json.dumps([list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]))';
  let out: string;
  try {
    out = execFileSync(PYTHON, ['-c', script, ...files.map((f) => path.join(DIR, f))], { encoding: 'utf8' });
  } catch (error) {
    throw new Error(`the manifests could not be parsed (needs Debian's python3-yaml: .ci/run installs it): ${(error as Error).message}`);
  }
  return (JSON.parse(out) as Doc[][]).flatMap((docs, i) => docs.filter((d) => d !== null).map((doc) => ({ file: files[i]!, doc })));
}

describe('deploy/kubernetes manifests', () => {
  const manifests = loadManifests();
  const byKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind);
  const deployments = byKind('Deployment');
  const graceDefault = Number(Serve.flags['grace-period'].default);

  it('every document names its apiVersion, kind and name; kustomization.yaml lists every other file', () => {
    const resources = manifests.filter((m) => m.file !== 'kustomization.yaml');
    for (const { file, doc } of resources) assert.ok(doc.apiVersion && doc.kind && doc.metadata?.name, file);
    const kustomization = manifests.find((m) => m.file === 'kustomization.yaml')!.doc;
    assert.deepEqual([...kustomization.resources].sort(), [...new Set(resources.map((m) => m.file))].sort());
    assert.ok(deployments.length >= 1 && byKind('Service').length === 1 && byKind('Ingress').length === 1);
  });

  for (const { file, doc } of deployments) {
    describe(file, () => {
      const pod = doc.spec.template.spec;
      const container = pod.containers.find((c: Doc) => c.name === 'dts-util');
      const args: string[] = container.command;
      const flag = (name: string) => args[args.indexOf(name) + 1];

      it('is pinned to one GPU node and takes one GPU', () => {
        assert.equal(doc.spec.replicas, 1);
        assert.ok(pod.nodeSelector?.['kubernetes.io/hostname'], 'nodeSelector on the node');
        assert.equal(String(container.resources.limits['nvidia.com/gpu']), '1');
        assert.equal(doc.spec.strategy?.type, 'Recreate', 'a rolling update would wait for a second GPU');
      });

      it('runs dts-util serve on every interface, the port the probes use, models on the volume', () => {
        assert.deepEqual(args.slice(0, 2), ['dts-util', 'serve']);
        assert.equal(flag('--host'), '0.0.0.0');
        assert.equal(Number(flag('--port')), PORT);
        assert.ok(container.ports.some((p: Doc) => p.containerPort === PORT));
        const mount = container.volumeMounts.find((m: Doc) => m.mountPath === flag('--model-path'));
        assert.ok(mount, '--model-path is a mounted volume');
        assert.ok(pod.volumes.find((v: Doc) => v.name === mount.name)?.persistentVolumeClaim, 'the models volume is the shared claim');
      });

      it("probes grpc.health.v1 natively on the serving port, which works because the server is plaintext there", () => {
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          assert.equal(container[probe]?.grpc?.port, PORT, `${probe} is a grpc probe on ${PORT}`);
        }
        assert.ok(args.includes('--no-tls'), "the kubelet's grpc probe does not speak TLS");
      });

      it('takes the shared secret from a Secret, not from the manifest', () => {
        const env = container.env.find((e: Doc) => e.name === 'DTS_UTIL_SHARED_SECRET');
        assert.ok(env?.valueFrom?.secretKeyRef?.name && env.valueFrom.secretKeyRef.key);
        assert.equal(env.value, undefined);
        assert.ok(!args.some((a) => a.startsWith('--shared-secret')), 'argv is visible in ps');
      });

      it(`drains on shutdown: a preStop hook, and a grace period ≥ preStop + the server's --grace-period (default ${graceDefault} s) + ${MARGIN_SECONDS} s`, () => {
        const preStop = container.lifecycle?.preStop;
        assert.ok(preStop, 'preStop present');
        const sleep = Number(preStop.exec?.command?.at(-1) ?? preStop.sleep?.seconds ?? 0);
        const drain = Number(flag('--grace-period') ?? graceDefault);
        assert.ok(drain >= graceDefault, 'the drain is not shorter than the default');
        assert.ok(pod.terminationGracePeriodSeconds >= sleep + drain + MARGIN_SECONDS, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < ${sleep} + ${drain} + ${MARGIN_SECONDS}`);
      });
    });
  }

  it("the Service selects every node's pods, and the Ingress speaks gRPC to it", () => {
    const service = byKind('Service')[0]!.doc;
    for (const { doc } of deployments) {
      const labels = doc.spec.template.metadata.labels;
      assert.ok(Object.entries(service.spec.selector).every(([k, v]) => labels[k] === v), `${doc.metadata.name} is behind the Service`);
    }
    assert.ok(service.spec.ports.some((p: Doc) => p.port === PORT));
    const ingress = byKind('Ingress')[0]!.doc;
    assert.match(ingress.metadata.annotations['nginx.ingress.kubernetes.io/backend-protocol'], /^GRPCS?$/);
    assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, service.metadata.name);
  });
});
