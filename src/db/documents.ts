// The documents Lectern keeps in its metadata store. Shared by the API plugins, the transcoder
// and delivery; every id is a string made by newId().

/** admin: everything; teacher: uploads and manages their videos; student: watches, searches, keeps their place. */
export type Role = 'admin' | 'teacher' | 'student'
export const ROLES = ['admin', 'teacher', 'student'] as const

export interface User {
  _id: string
  email: string
  name: string
  /** 'user' on accounts from before roles existed: read through roleOf(), which makes it 'teacher' */
  role: Role | 'user'
  /** scrypt hash, hex */
  passwordHash: string
  /** per-user salt, hex */
  passwordSalt: string
  createdAt: Date
}

export type VideoStatus = 'uploaded' | 'processing' | 'ready' | 'failed'
export type Visibility = 'public' | 'unlisted' | 'private'

export interface SourceInfo {
  /** ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
  container: string
  videoCodec: string
  audioCodec: string | null
  size: number
  width: number
  height: number
  frameRate: number
  /** bits per second of the whole file */
  bitrate: number
  duration: number
  /** coded as fields (ffprobe field_order tt, bb, tb or bt): deinterlaced before scaling. Missing on documents from before it was probed. */
  interlaced?: boolean
  /** which audio stream is encoded (N of -map 0:a:N): the one marked default, else the first; null without audio */
  audioStream?: number | null
  /** the source's subtitle streams; the text ones become caption tracks */
  subtitles?: SourceSubtitle[]
}

/** A subtitle stream of an original, as ffprobe reports it. */
export interface SourceSubtitle {
  /** N of -map 0:s:N */
  index: number
  /** ffprobe codec_name: subrip, ass, mov_text, webvtt (text); hdmv_pgs_subtitle, dvd_subtitle (bitmaps) */
  codec: string
  /** the stream's language tag as written (ISO 639-2 such as "eng", or BCP 47), null when absent */
  language: string | null
  title: string | null
}

/** One rung of the published ladder, with figures measured from its real segments. */
export interface Rendition {
  /** e.g. "720p"; also the folder name under the version prefix */
  name: string
  width: number
  height: number
  frameRate: number
  /** peak segment bitrate, bits/s (RFC 8216 4.3.4.2 BANDWIDTH) */
  bandwidth: number
  /** average bitrate, bits/s (AVERAGE-BANDWIDTH) */
  averageBandwidth: number
  /** RFC 6381 codecs, e.g. "avc1.64001f,mp4a.40.2" */
  codecs: string
  /** number of segments: segment-00000.ts .. segment-<n-1>.ts */
  segmentCount: number
}

export interface Video {
  _id: string
  owner: string
  title: string
  description: string
  tags: string[]
  visibility: Visibility
  status: VideoStatus
  /** 0..1 while processing */
  progress: number
  /** estimated seconds left while processing */
  etaSeconds: number | null
  failureReason: string | null
  /**
   * While a failed attempt waits to be retried (status 'uploaded' again, failureReason the last
   * error): when the next attempt may start. Null or missing otherwise.
   */
  retryAt?: Date | null
  /** seconds */
  duration: number | null
  source: SourceInfo | null
  renditions: Rendition[]
  /** storage key of the uploaded original: originals/<id> */
  originalKey: string
  originalSize: number
  originalName: string | null
  /** published output prefix version; outputs live under videos/<id>/<version>/ */
  version: string | null
  /**
   * True once HLS can be played: when the video is ready, and earlier, while it is still being
   * transcoded, once the first segments of every rung are published (status stays 'processing';
   * the playlists are EVENT playlists that grow). Missing on documents from before: read through isPlayable().
   */
  playable?: boolean
  /** While processing and playable: seconds of every rung published so far. */
  publishedSeconds?: number
  posterKey: string | null
  /** the faststart MP4 for /stream/:id */
  progressiveKey: string | null
  createdAt: Date
  updatedAt: Date
  views: number
  /**
   * Bumped whenever who may play the video changes (its visibility, a new transcode); playback
   * tokens carry it, so earlier tokens stop working. Missing on documents from before it existed: 0.
   */
  accessEpoch?: number
  /** Caption tracks, one per language (missing on videos that never had any). */
  captions?: CaptionTrack[]
}

/** One caption track of a video: a WebVTT file in storage beside the video. */
export interface CaptionTrack {
  /** canonical BCP 47 tag, e.g. "en" or "pt-BR"; one track per language */
  language: string
  /** what the player's menu shows, e.g. "English" */
  label: string
  /** storage key of the WebVTT file: videos/<id>/captions/<language>.<revision>.vtt (a new key per upload) */
  key: string
  updatedAt: Date
}

/** Whether HLS of the video can be played now: ready, or published as it transcodes. */
export const isPlayable = (video: Pick<Video, 'status' | 'version' | 'playable'>): boolean =>
  video.version !== null && (video.status === 'ready' || (video.playable === true && video.status !== 'failed'))

/** Whether the video is playable but its playlists still grow (its job runs, or waits to be retried). */
export const isLive = (video: Pick<Video, 'status' | 'version' | 'playable'>): boolean =>
  video.status !== 'ready' && isPlayable(video)

/** The video's access epoch (0 for documents from before it existed). */
export const accessEpochOf = (video: Pick<Video, 'accessEpoch'>): number => video.accessEpoch ?? 0

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

export interface Job {
  _id: string
  videoId: string
  /** the video's owner, for a fair queue (missing on jobs from before it existed) */
  owner?: string
  state: JobState
  attempts: number
  maxAttempts: number
  /** not claimable before this time (backoff) */
  runAfter: Date
  /** worker id holding the lease */
  leaseOwner: string | null
  leaseExpiresAt: Date | null
  lastError: string | null
  createdAt: Date
  updatedAt: Date
  /** When the attempt now running was claimed. */
  startedAt?: Date
  /** On a done job: what its transcode cost, from which the next estimates are made. */
  measured?: TranscodeMeasure
}

/** The cost of one finished transcode: content seconds of a source of a pixel rate, in wall seconds. */
export interface TranscodeMeasure {
  contentSeconds: number
  wallSeconds: number
  /** output pixels per content second at the source's size and output frame rate */
  pixelRate: number
}

/** Storage layout of a video's objects. */
export const videoKeys = {
  original: (id: string) => `originals/${id}`,
  prefix: (id: string) => `videos/${id}/`,
  versionPrefix: (id: string, version: string) => `videos/${id}/${version}/`,
  master: (id: string, version: string) => `videos/${id}/${version}/master.m3u8`,
  mediaPlaylist: (id: string, version: string, rendition: string) => `videos/${id}/${version}/${rendition}/index.m3u8`,
  segment: (id: string, version: string, rendition: string, segment: string) => `videos/${id}/${version}/${rendition}/${segment}`,
  progressive: (id: string, version: string) => `videos/${id}/${version}/progressive.mp4`,
  poster: (id: string, version: string) => `videos/${id}/${version}/poster.jpg`
}

/** Segment file name for index i: segment-00000.ts */
export const segmentName = (i: number) => `segment-${String(i).padStart(5, '0')}.ts`
export const SEGMENT_NAME = /^segment-(\d{5,})\.ts$/
