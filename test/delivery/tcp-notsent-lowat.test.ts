import t from 'tap'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readNotsentLowat } from '../../src/delivery/tcp-notsent-lowat.js'
import { tempDir } from '../helpers/config.js'
import { buildTestApp } from '../helpers/app.js'

t.test('the sysctl as the kernel shows it: unlimited, low, high, unreadable', async (t) => {
  const dir = await tempDir(t)
  const at = async (value: string): Promise<ReturnType<typeof readNotsentLowat>> => {
    const path = join(dir, 'v')
    await writeFile(path, value)
    return readNotsentLowat(path)
  }
  t.same(await at('4294967295\n'), { bytes: null, preciseFinish: false })
  t.same(await at('16384\n'), { bytes: 16384, preciseFinish: true })
  t.same(await at('131072\n'), { bytes: 131072, preciseFinish: false })
  t.same(await at('junk'), { bytes: null, preciseFinish: false })
  t.same(readNotsentLowat(join(dir, 'missing')), { bytes: null, preciseFinish: false })
})

t.test('/health/ready reports it', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject('/health/ready')
  const raw = readFileSync('/proc/sys/net/ipv4/tcp_notsent_lowat', 'utf8').trim()
  const expected = raw === '4294967295' ? null : Number(raw)
  t.match(res.json().details, { tcpNotsentLowat: expected, throughputSampling: expected !== null && expected <= 16384 ? 'precise' : 'coarse' })
})
