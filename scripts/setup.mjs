#!/usr/bin/env node
// Installs what a fresh clone needs, so that the README's two commands work on a machine with
// only Node 20 and npm. Idempotent and quiet when there is nothing to do.
//   --deps   pnpm install (the pinned pnpm, through npx when it is not on PATH)
//   --redis  redis-server + redis-cli from Debian's packages when missing (tests start their own),
//            and python3-authlib + python3-requests-oauthlib (the proxy's interoperability test)
//   --cfn-lint  cfn-lint when missing (test/templates.test.ts lints every template.yaml): Debian's
//            package, else pip
//   --build  build the packages whose sources are newer than their dist/
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = new Set(process.argv.slice(2))
const all = args.size === 0
const pnpmVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1]

function log(msg) {
  process.stderr.write(`[setup] ${msg}\n`)
}

function run(cmd, argv, { quiet = false, ...opts } = {}) {
  // Quiet steps keep their output unless they fail, so the demo prints only what it measures.
  const r = spawnSync(cmd, argv, { cwd: root, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8', ...opts })
  if (r.status !== 0) {
    if (quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`)
    log(`\`${cmd} ${argv.join(' ')}\` failed (exit ${r.status ?? r.signal})`)
    process.exit(r.status || 1)
  }
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

function pnpm(argv, opts) {
  let onPath = false
  try {
    onPath =
      execFileSync('pnpm', ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() === pnpmVersion
  } catch {}
  if (onPath) run('pnpm', argv, opts)
  else run('npx', ['--yes', `pnpm@${pnpmVersion}`, ...argv], opts)
}

function newest(dir) {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

if (all || args.has('--deps')) {
  const marker = join(root, 'node_modules', '.modules.yaml')
  const lock = join(root, 'pnpm-lock.yaml')
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs)
  if (stale) {
    log(`installing dependencies with pnpm@${pnpmVersion}`)
    pnpm([
      'install',
      ...(process.env.CI && existsSync(lock) ? ['--frozen-lockfile'] : []),
      '--reporter=append-only',
    ])
  }
}

if (all || args.has('--redis')) {
  if (!has('redis-server') || !has('redis-cli')) {
    if (process.getuid?.() !== 0) {
      log('redis-server is missing and this is not root: run `sudo apt-get install -y redis-server`')
      process.exit(1)
    }
    log('installing redis-server from Debian packages (integration tests start their own)')
    run('apt-get', ['update', '-qq'])
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'redis-server'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    // Debian starts a system redis on 6379; tests never use it, so it is stopped to keep the port free.
    spawnSync('sh', ['-c', 'service redis-server stop || true'], { stdio: 'ignore' })
  }
}

if (all || args.has('--cfn-lint')) {
  if (!has('cfn-lint')) {
    if (process.getuid?.() !== 0) {
      log(
        'cfn-lint is missing and this is not root: run `sudo apt-get install -y cfn-lint` or `pip install cfn-lint`',
      )
      process.exit(1)
    }
    log('installing cfn-lint (test/templates.test.ts lints every SAM/CloudFormation template)')
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' })
    const apt = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'cfn-lint'], {
      stdio: 'ignore',
      env,
    })
    if (apt.status !== 0 || !has('cfn-lint')) {
      const pip = has('pip3') ? 'pip3' : 'pip'
      run(pip, ['install', '--quiet', 'cfn-lint'])
    }
  }
}

// Python OAuth clients the proxy's interoperability test runs (test/proxy-clients.test.ts), from
// Debian's packages like redis-server, for the system python (/usr/bin/python3).
const PYTHON_CLIENTS = ['python3-authlib', 'python3-requests-oauthlib']
if (all || args.has('--redis')) {
  const present =
    spawnSync('/usr/bin/python3', ['-c', 'import authlib, requests_oauthlib'], { stdio: 'ignore' }).status ===
    0
  if (!present) {
    if (process.getuid?.() !== 0) {
      log(
        `python clients are missing and this is not root: run \`sudo apt-get install -y ${PYTHON_CLIENTS.join(' ')}\``,
      )
      process.exit(1)
    }
    log(`installing ${PYTHON_CLIENTS.join(', ')} from Debian packages (proxy interoperability tests)`)
    run('apt-get', ['update', '-qq'])
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'python3', ...PYTHON_CLIENTS], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  }
}

if (all || args.has('--build')) {
  const pkgs = readdirSync(join(root, 'packages')).filter((p) => existsSync(join(root, 'packages', p, 'src')))
  const stale = pkgs.filter((p) => {
    const dist = join(root, 'packages', p, 'dist', 'index.js')
    return !existsSync(dist) || newest(join(root, 'packages', p, 'src')) > statSync(dist).mtimeMs
  })
  if (stale.length) {
    log(`building ${stale.join(', ')}`)
    // Dependencies first: core before the adapters that import its declarations.
    pnpm(
      [
        '-r',
        '--workspace-concurrency=2',
        ...stale.flatMap((p) => ['--filter', `./packages/${p}`]),
        'run',
        'build',
      ],
      { quiet: true },
    )
  }
}
