// The WIT contract's records, variants and enums as TypeScript types,
// generated from `wit/` by `jco guest-types` (see `npm run generate`).

/// <reference path="./generated/adapter-world.d.ts" preserve="true" />

import type * as crm from "switchboard:adapter/crm-types@0.2.0";

export type AdapterManifest = crm.AdapterManifest;
export type AuthType = crm.AuthType;
export type OauthConfig = crm.OauthConfig;
export type Operation = crm.Operation;
export type AdapterError = crm.AdapterError;
export type Credential = crm.Credential;
export type UserContext = crm.UserContext;
export type LoginRequest = crm.LoginRequest;
export type UserInfo = crm.UserInfo;
export type Direction = crm.Direction;
export type Party = crm.Party;
export type Call = crm.Call;
export type CallLeg = crm.CallLeg;
export type ContactRef = crm.ContactRef;
export type Contact = crm.Contact;
export type FindContactRequest = crm.FindContactRequest;
export type FindContactByNameRequest = crm.FindContactByNameRequest;
export type CreateContactRequest = crm.CreateContactRequest;
export type CreateCallLogRequest = crm.CreateCallLogRequest;
export type CallLogCreated = crm.CallLogCreated;
export type GetCallLogRequest = crm.GetCallLogRequest;
export type CallLogDetails = crm.CallLogDetails;
export type UpdateCallLogRequest = crm.UpdateCallLogRequest;
export type CallLogUpdated = crm.CallLogUpdated;
export type UpsertCallDispositionRequest = crm.UpsertCallDispositionRequest;
export type MessageType = crm.MessageType;
export type AttachmentKind = crm.AttachmentKind;
export type Attachment = crm.Attachment;
export type Message = crm.Message;
export type CreateMessageLogRequest = crm.CreateMessageLogRequest;
export type MessageLogCreated = crm.MessageLogCreated;
export type UpdateMessageLogRequest = crm.UpdateMessageLogRequest;
