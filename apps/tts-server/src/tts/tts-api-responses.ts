/**
 * The 200 answers of POST /tts and GET /tts for the OpenAPI document, one entry per media
 * type: the audio formats (binary), and what issue 17 added: the JSON with timestamps, the
 * WebVTT and SubRip captions and, on POST, the event stream of `stream` with
 * `timestamps`. Nest's ApiOkResponse would give every produced type the same schema;
 * a `content` map gives each its own.
 */
import { AUDIO_FORMATS, mediaTypesOf } from '@app/audio-formats';
import { getSchemaPath, type ApiResponseCommonMetadata } from '@nestjs/swagger';
import {
  SentenceAudioEventDto,
  SentenceTimestampsEventDto,
  StreamDoneEventDto,
  StreamErrorEventDto,
  TimestampsResponseDto,
} from './dto/timestamps-response.dto';
import { contentTypeOfOutput } from './render-job';

/** An OpenAPI response's `content`: media type → schema and example. */
type ContentObject = NonNullable<ApiResponseCommonMetadata['content']>;

/** A media type without its parameters: `text/vtt; charset=utf-8` → `text/vtt`. */
const bare = (contentType: string): string => contentType.split(';')[0].trim();

export const TIMESTAMPS_MEDIA_TYPE = bare(contentTypeOfOutput('timestamps'));
export const VTT_MEDIA_TYPE = bare(contentTypeOfOutput('vtt'));
export const SRT_MEDIA_TYPE = bare(contentTypeOfOutput('srt'));
export const EVENT_STREAM_MEDIA_TYPE = 'text/event-stream';

const AUDIO_MEDIA_TYPES = mediaTypesOf(AUDIO_FORMATS);

function audioContent(): ContentObject {
  return Object.fromEntries(
    AUDIO_MEDIA_TYPES.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
  );
}

function captionContent(): ContentObject {
  return {
    [VTT_MEDIA_TYPE]: {
      schema: {
        type: 'string',
        description: '`format: "vtt"`: WebVTT cues of at most 42 characters within one sentence',
        example: 'WEBVTT\n\n00:00:00.081 --> 00:00:00.952\nHello world.\n',
      },
    },
    [SRT_MEDIA_TYPE]: {
      schema: {
        type: 'string',
        description: '`format: "srt"`: the same cues as SubRip',
        example: '1\n00:00:00,081 --> 00:00:00,952\nHello world.\n',
      },
    },
  };
}

/** Media types GET /tts answers with: audio, or captions with `format=vtt|srt`. */
export const GET_TTS_MEDIA_TYPES = [...AUDIO_MEDIA_TYPES, VTT_MEDIA_TYPE, SRT_MEDIA_TYPE];

/** Media types POST /tts answers with: those, the JSON of `timestamps` and its stream. */
export const POST_TTS_MEDIA_TYPES = [
  ...GET_TTS_MEDIA_TYPES,
  TIMESTAMPS_MEDIA_TYPE,
  EVENT_STREAM_MEDIA_TYPE,
];

export function getTtsContent(): ContentObject {
  return { ...audioContent(), ...captionContent() };
}

export function postTtsContent(): ContentObject {
  return {
    ...getTtsContent(),
    [TIMESTAMPS_MEDIA_TYPE]: { schema: { $ref: getSchemaPath(TimestampsResponseDto) } },
    [EVENT_STREAM_MEDIA_TYPE]: {
      schema: {
        type: 'string',
        description:
          `\`stream\` and \`timestamps\`: Server-Sent Events, per sentence an \`audio\` event ` +
          `(data: ${getSchemaPath(SentenceAudioEventDto)}) and a \`timestamps\` event ` +
          `(data: ${getSchemaPath(SentenceTimestampsEventDto)}), then \`done\` ` +
          `(data: ${getSchemaPath(StreamDoneEventDto)}), or \`error\` ` +
          `(data: ${getSchemaPath(StreamErrorEventDto)}) if synthesis fails after the first event`,
        example:
          'event: audio\ndata: {"index":0,"audio":"AAABAA…","format":"pcm","sample_rate":22050}\n\n' +
          'event: timestamps\ndata: {"index":0,"words":[{"text":"Hello","start":0.081,"end":0.43,"char_start":0,"char_end":5}],"phonemes":[…]}\n\n' +
          'event: done\ndata: {"duration":0.95,"sample_rate":22050}\n\n',
      },
    },
  };
}
