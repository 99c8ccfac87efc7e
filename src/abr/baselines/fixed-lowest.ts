import type { PolicyFactory } from '../abr-policy.js'

/** Always the lowest rung. */
export const fixedLowest: PolicyFactory = { name: 'fixed lowest', create: () => ({ choose: () => 0 }) }
