import { z } from 'zod'

/** The JSON body of every error answer (see the root error handler in src/app.ts). */
export const errorSchema = z.object({
  statusCode: z.number().int(),
  code: z.string(),
  error: z.string(),
  message: z.string()
})
