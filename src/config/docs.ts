// docs/configuration.md, written from the settings table (scripts/config-docs.ts writes the file; a
// host test checks that the file in the repository is what this renders).
import { SETTINGS, type Setting, type Status } from './table.js';

const STATUS: Record<Status, string> = {
  honoured: 'honoured',
  warn: 'accepted, warns',
  refused: 'refused',
  kipvs: 'kipvs only',
};

const cell = (s: string) => s.replace(/\|/g, '\\|');

function row(s: Setting): string {
  const field = s.field ? `\`${s.field}\`${s.removed ? ' (removed)' : ''}` : '';
  const flag = s.flag ? `${s.short ? `\`-${s.short}\`, ` : ''}\`--${s.flag}\`` : '';
  return `| ${field} | ${flag} | ${cell(s.default)} | ${STATUS[s.status]} | ${cell(s.note)} |`;
}

export function configurationDoc(): string {
  return [
    '<!-- Generated from src/config/table.ts by `node dist/scripts/config-docs.js`; do not edit by hand. -->',
    '# Configuration',
    '',
    '`kipvs agent` reads kube-proxy\'s configuration: a KubeProxyConfiguration file',
    '(`kubeproxy.config.k8s.io/v1alpha1`, YAML or JSON) named by `--config`, and kube-proxy\'s flags. Every',
    'field of the file and every flag kube-proxy registers is listed below with what kipvs does with it:',
    '',
    '- **honoured**: kipvs does what kube-proxy does (the note says where it differs);',
    '- **accepted, warns**: accepted; a value that asks for something (other than the default or an',
    '  empty value) is logged at start as "has no effect in kipvs", with the reason;',
    '- **refused**: such a value stops the start, with the reason;',
    '- **kipvs only**: kipvs\' own flags.',
    '',
    'A field that is not in the table is an error. All errors of a file are reported together, each',
    'with the file\'s line and column (`kube-proxy.yaml:12:14: ipvs.scheduler: unknown scheduler "x"`).',
    '',
    '## Where kipvs deliberately differs from kube-proxy',
    '',
    '- **Flags and the file.** kube-proxy ignores most flags when `--config` is given. kipvs applies every',
    '  flag over the file.',
    '- **Default mode.** kube-proxy defaults to `iptables`, kipvs to `ipvs`.',
    '- **Deleting.** kipvs deletes only what it owns: virtual services on kube-ipvs0 addresses and on',
    '  node addresses (NodePorts), and the chains, jumps and ipsets of the proxy modes; it never touches',
    '  `excludeCIDRs`. A virtual service an operator adds on another address survives every sync and',
    '  `--cleanup`. kube-proxy\'s IPVS mode deletes every virtual service outside `excludeCIDRs`.',
    '- **Graceful termination is bounded.** A removed TCP real server drains at weight 0 until its',
    '  connections end, but for at most `--graceful-termination-timeout` (15m); kube-proxy waits however',
    '  long it takes.',
    '- **Binding.** kipvs always stops when it cannot bind its health or metrics server (kube-proxy only',
    '  with `bindAddressHardFail: true`).',
    '- **Logs** go to stderr, as JSON lines by default (kube-proxy defaults to text); klog\'s output options have no effect.',
    '',
    '## Fields and flags',
    '',
    '| Field | Flag | Default | Status | Note |',
    '| --- | --- | --- | --- | --- |',
    ...SETTINGS.map(row),
    '',
  ].join('\n');
}
